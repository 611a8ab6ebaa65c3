"""gateway.inbound serves the installed SDK's inbound ladder, loaded from its own file."""

from __future__ import annotations

import inspect

import mcp.shared.inbound as sdk
import pytest

from gateway import inbound


@pytest.mark.parametrize("name", inbound.__all__)
def test_each_name_is_the_sdk_s_own_code(name):
    ours, theirs = getattr(inbound, name), getattr(sdk, name)

    if callable(ours):
        assert inspect.getsourcefile(ours) == str(inbound.sdk_file())
        assert inspect.getsource(ours) == inspect.getsource(theirs)
    else:
        assert ours == theirs


def test_the_ladder_gives_the_sdk_s_verdicts():
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"}

    ours = inbound.classify_inbound_request(message, headers=headers)
    theirs = sdk.classify_inbound_request(message, headers=headers)

    assert type(ours).__name__ == type(theirs).__name__
    assert vars(ours) == vars(theirs)
