"""The one invalidation channel: a token per change under every name, listeners told at once."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from core import invalidation
from core.invalidation import generation_key, server_changed

pytestmark = pytest.mark.django_db


def test_one_change_publishes_one_token_under_every_name_after_commit(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        server_changed("some-slug", "3f0c", "")
        assert cache.get(generation_key("some-slug")) is None
    for callback in callbacks:
        callback()

    token = cache.get(generation_key("some-slug"))
    assert token is not None
    assert cache.get(generation_key("3f0c")) == token
    assert cache.get(generation_key("")) is None


def test_listeners_in_this_process_hear_of_the_change_before_and_after_the_commit(
    django_capture_on_commit_callbacks,
):
    heard: list[tuple[str, ...]] = []
    invalidation.on_change(heard.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            server_changed("a-slug", "an-id")
            assert heard == [("a-slug", "an-id")]
    finally:
        invalidation._listeners.remove(heard.append)

    assert heard == [("a-slug", "an-id"), ("a-slug", "an-id")]
