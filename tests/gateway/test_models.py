"""``GET /v1/models`` and ``/v1/models/{id}``, read by both official SDKs."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.gateway import _wire
from tests.gateway.conftest import Live, serve


@pytest.fixture(scope="module")
def configured() -> Iterator[Live]:
    """Two named routes and a glob route whose names are not the simulator's own."""
    served = [{"provider": "simulator", "model": "claude-sonnet-5"}]
    routes = [
        {"name": "house-fast", "deployments": served},
        {"name": "house-smart", "deployments": served},
        {"name": "team-*", "deployments": served},
    ]
    with serve({"models": routes}) as live:
        yield live


def sdk(live: Live) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=live.base_url, api_key="sk-ant-client", max_retries=0)


def test_the_anthropic_sdk_pages_through_every_model(gateway: Live) -> None:
    everything = _wire.call(gateway.base_url, "GET", "/v1/models").json()
    ids = [item["id"] for item in everything["data"]]
    assert everything["has_more"] is False and len(ids) >= 3
    with sdk(gateway) as client:
        paged = [model.id for model in client.models.list(limit=2)]
        first = client.models.list(limit=2)
    assert paged == ids
    assert [m.id for m in first.data] == ids[:2] and first.has_more is True
    assert first.first_id == ids[0] and first.last_id == ids[1]


def test_the_anthropic_sdk_retrieves_one_model(gateway: Live) -> None:
    with sdk(gateway) as client:
        model = client.models.retrieve("claude-sonnet-5")
    assert model.id == "claude-sonnet-5" and model.type == "model"
    assert model.display_name == "Claude Sonnet 5"


def test_the_openai_sdk_lists_and_retrieves_models(gateway: Live) -> None:
    ids = [item["id"] for item in _wire.call(gateway.base_url, "GET", "/v1/models").json()["data"]]
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-client", max_retries=0) as client:
        listed = [model.id for model in client.models.list()]
        one = client.models.retrieve("claude-sonnet-5")
    assert listed == ids
    assert one.id == "claude-sonnet-5" and one.object == "model" and one.created > 0


def test_configured_names_are_listed_first_and_unknown_names_are_404(configured: Live) -> None:
    with sdk(configured) as client:
        ids = [model.id for model in client.models.list()]
        with pytest.raises(anthropic.NotFoundError):
            client.models.retrieve("house-unknown")
        globbed = client.models.retrieve("team-blue")
    assert ids[:2] == ["house-fast", "house-smart"] and "team-*" not in ids
    assert globbed.id == "team-blue"


def test_every_listed_model_can_be_used(configured: Live) -> None:
    # Clients (n8n's model picker, Claude Code's /model) offer exactly what the list holds.
    ids = [item["id"] for item in _wire.call(configured.base_url, "GET", "/v1/models").json()["data"]]
    ask = {"max_tokens": 8, "messages": [{"role": "user", "content": "hello"}]}
    refused = {
        model: reply.status
        for model in ids
        if (reply := _wire.messages(configured.base_url, {"model": model, **ask})).status != 200
    }
    assert refused == {}
