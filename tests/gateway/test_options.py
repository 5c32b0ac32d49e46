"""``OPTIONS``: the methods a path takes, answered without a key (what an OPTIONS probe reads)."""

from __future__ import annotations

from tests.gateway import _wire
from tests.gateway.conftest import Live


def test_options_lists_the_methods_of_each_path_and_needs_no_key(gateway: Live) -> None:
    root = _wire.call(gateway.base_url, "OPTIONS", "/")
    messages = _wire.call(gateway.base_url, "OPTIONS", "/v1/messages/")
    model = _wire.call(gateway.base_url, "OPTIONS", "/v1/models/claude-sonnet-5")
    assert (root.status, root.headers["allow"], root.body) == (200, "GET, HEAD, OPTIONS", b"")
    assert root.headers["content-length"] == "0"
    assert messages.status == 200 and messages.headers["allow"] == "OPTIONS, POST"
    assert model.status == 200 and model.headers["allow"] == "GET, OPTIONS"


def test_options_on_an_unknown_path_is_not_found(gateway: Live) -> None:
    reply = _wire.call(gateway.base_url, "OPTIONS", "/v1/nowhere")
    assert reply.status == 404 and reply.json()["error"]["type"] == "not_found_error"
