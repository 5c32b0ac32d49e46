"""The Salesforce-mode simulator on loopback for provider tests, and small helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from claudegate.client import AiohttpTransport, ApiKey
from claudegate.providers import ProviderRequest, SalesforceProvider
from claudegate.simulator import create_salesforce_app
from claudegate.simulator.salesforce import TOKEN_PATH, SalesforceSimulatorApp
from claudegate.testing import LiveServer

SONNET = "sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet"
ASK: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 300,
    "messages": [{"role": "user", "content": "Describe the harbour lights at dusk"}],
}


@dataclass
class Upstream:
    """The Salesforce-mode simulator on loopback, and a factory for providers pointed at it."""

    app: SalesforceSimulatorApp
    base_url: str
    transport: AiohttpTransport

    def provider(self, secret: str = "sim-secret", **options: Any) -> SalesforceProvider:
        return SalesforceProvider(
            token_url=self.base_url + TOKEN_PATH,
            api_base_url=options.pop("api_base_url", None),
            client_id="sim-client",
            client_secret=ApiKey(secret),
            transport=self.transport,
            **options,
        )

    def kinds(self) -> list[str]:
        return [entry["kind"] for entry in self.app.log]

    def chats(self) -> list[dict[str, Any]]:
        return [entry for entry in self.app.log if entry["kind"] == "chat"]


@pytest.fixture(scope="module")
def salesforce_server() -> Iterator[tuple[SalesforceSimulatorApp, str]]:
    app = create_salesforce_app()
    with LiveServer(app) as live:
        yield app, live.base_url


@pytest.fixture
async def upstream(salesforce_server: tuple[SalesforceSimulatorApp, str]) -> AsyncIterator[Upstream]:
    app, base_url = salesforce_server
    app.log.clear()
    app.simulator.faults.reset()
    transport = AiohttpTransport()
    yield Upstream(app, base_url, transport)
    await transport.aclose()


def request(body: dict[str, Any] = ASK, fault: str | None = None) -> ProviderRequest:
    return ProviderRequest(body=body, headers={"x-sim-fault": fault} if fault else {})


def text_of(message: dict[str, Any]) -> str:
    return "".join(block["text"] for block in message["content"] if block["type"] == "text")


class Sleeps:
    """An injected ``sleep`` that records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
