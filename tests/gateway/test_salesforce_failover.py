"""A route of two Salesforce deployments: a rate limit or a "server busy" fails over at once.

Both deployments use one Salesforce-mode simulator on loopback, under different model names
(``…Claude45Sonnet`` first, ``…Claude45Haiku`` second), so its request log tells which deployment
each call went to. A fault with ``times=1`` hits the first call only, wherever it goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from claudegate.simulator import create_salesforce_app
from claudegate.simulator.salesforce import TOKEN_PATH, SalesforceSimulatorApp
from claudegate.testing import LiveServer
from tests.gateway import _wire
from tests.gateway.conftest import Live, serve

MODEL = "claude-sonnet-4-5"
ASK: dict[str, Any] = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
FIRST = "sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet"
SECOND = "sfdc_ai__DefaultBedrockAnthropicClaude45Haiku"


@pytest.fixture(scope="module")
def salesforce() -> Iterator[tuple[Live, SalesforceSimulatorApp]]:
    app = create_salesforce_app()
    with pytest.MonkeyPatch.context() as patch, LiveServer(app) as upstream:
        patch.setenv("GW_SF_CLIENT_ID", "sim-client")
        patch.setenv("GW_SF_CLIENT_SECRET", "sim-secret")
        deployments = [
            {
                "provider": "salesforce",
                "name": name,
                "model": model,
                "priority": priority,
                "token_url": upstream.base_url + TOKEN_PATH,
                "client_id": "env:GW_SF_CLIENT_ID",
                "client_secret": "env:GW_SF_CLIENT_SECRET",
            }
            for name, model, priority in (("one", FIRST, 1), ("two", SECOND, 2))
        ]
        with serve({"models": [{"name": MODEL, "deployments": deployments}]}) as live:
            yield live, app


def chats(app: SalesforceSimulatorApp) -> list[tuple[str, int]]:
    return [(entry["model"], entry["status"]) for entry in app.log if entry["kind"] == "chat"]


@pytest.mark.parametrize("status", [429, 423])
def test_a_busy_first_deployment_fails_over_without_waiting(
    salesforce: tuple[Live, SalesforceSimulatorApp], status: int
) -> None:
    live, app = salesforce
    app.log.clear()
    app.simulator.faults.reset()
    reply = _wire.messages(live.base_url, ASK, {"x-sim-fault": f"{status};times=1;retry-after=5"})
    assert reply.status == 200 and reply.json()["content"][0]["text"]
    # One call to each: the first deployment did not wait 5 s and ask again.
    assert chats(app) == [(FIRST, status), (SECOND, 200)]


def test_server_busy_everywhere_is_a_529_the_sdks_retry(
    salesforce: tuple[Live, SalesforceSimulatorApp],
) -> None:
    live, app = salesforce
    app.log.clear()
    app.simulator.faults.reset()
    reply = _wire.messages(live.base_url, ASK, {"x-sim-fault": "423"})
    assert reply.status == 529
    error = reply.json()["error"]
    assert error["type"] == "overloaded_error" and "HTTP 423" in error["message"]
    assert chats(app) == [(FIRST, 423), (SECOND, 423)]
