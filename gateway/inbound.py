"""The MCP SDK's inbound-request ladder (`mcp.shared.inbound`), without the rest of the SDK.

Importing `mcp.shared.inbound` the ordinary way first runs `mcp/__init__.py`, which imports the
SDK's client and server: about 14 MB per worker that the gateway never uses. The ladder itself
needs only `mcp_types`, so it is loaded here from the installed SDK's file as a module of its
own. The code that runs is the SDK's, unchanged; `gateway/tests/test_inbound.py` checks that a
worker's imports leave the `mcp` package out and that these are the installed SDK's functions.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

SDK_MODULE = "mcp.shared.inbound"


def sdk_file() -> Path:
    """Where the installed SDK keeps the ladder (found without importing the `mcp` package)."""
    package = importlib.util.find_spec("mcp")
    if package is None or not package.submodule_search_locations:
        raise ImportError("the MCP SDK (mcp) is not installed")
    return Path(next(iter(package.submodule_search_locations))) / "shared" / "inbound.py"


def _load() -> ModuleType:
    name = f"{__name__}._sdk"
    spec = importlib.util.spec_from_file_location(name, sdk_file())
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {SDK_MODULE} from {sdk_file()}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from mcp.shared.inbound import (
        ERROR_CODE_HTTP_STATUS,
        InboundLadderRejection,
        classify_inbound_request,
        find_duplicated_routing_header,
        find_invalid_x_mcp_header,
        unsupported_protocol_version_rejection,
        validate_mcp_param_headers,
        x_mcp_header_map,
    )
else:
    _ladder = _load()
    ERROR_CODE_HTTP_STATUS = _ladder.ERROR_CODE_HTTP_STATUS
    InboundLadderRejection = _ladder.InboundLadderRejection
    classify_inbound_request = _ladder.classify_inbound_request
    find_duplicated_routing_header = _ladder.find_duplicated_routing_header
    find_invalid_x_mcp_header = _ladder.find_invalid_x_mcp_header
    unsupported_protocol_version_rejection = _ladder.unsupported_protocol_version_rejection
    validate_mcp_param_headers = _ladder.validate_mcp_param_headers
    x_mcp_header_map = _ladder.x_mcp_header_map

__all__ = [
    "ERROR_CODE_HTTP_STATUS",
    "InboundLadderRejection",
    "classify_inbound_request",
    "find_duplicated_routing_header",
    "find_invalid_x_mcp_header",
    "unsupported_protocol_version_rejection",
    "validate_mcp_param_headers",
    "x_mcp_header_map",
]
