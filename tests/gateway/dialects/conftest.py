"""Fixtures of the dialect tests: the gateway of ``_routes`` and official SDK clients of both
dialects pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from claudegate.simulator import create_app as create_simulator
from claudegate.testing import LiveServer
from tests.gateway.conftest import serve
from tests.gateway.dialects._routes import KEY_ENV, ROUTES, UPSTREAM_MODEL, Routes


@pytest.fixture(scope="module")
def routes() -> Iterator[Routes]:
    """The gateway, one per module; model ``route-<kind>`` goes to the route of that kind."""
    upstream = create_simulator()
    with pytest.MonkeyPatch.context() as patch, LiveServer(upstream) as server:
        patch.setenv(KEY_ENV, "sk-ant-api03-routes-upstream-0000")
        deployments = {
            "simulator": {"provider": "simulator"},
            "openai": {"provider": "openai", "base_url": server.base_url + "/v1"},
            "anthropic": {"provider": "anthropic", "base_url": server.base_url, "api_key": f"env:{KEY_ENV}"},
        }
        models = [
            {"name": f"route-{kind}", "deployments": [{**deployments[kind], "model": UPSTREAM_MODEL}]}
            for kind in ROUTES
        ]
        with serve({"models": models}) as gateway:
            yield Routes(gateway, upstream)


@pytest.fixture(scope="module")
def claude(routes: Routes) -> Iterator[anthropic.Anthropic]:
    """The official Anthropic client, on the gateway."""
    with anthropic.Anthropic(
        base_url=routes.gateway.base_url, api_key="sk-ant-client", max_retries=0
    ) as client:
        yield client


@pytest.fixture(scope="module")
def gpt(routes: Routes) -> Iterator[openai.OpenAI]:
    """The official OpenAI client, on the gateway."""
    with openai.OpenAI(
        base_url=routes.gateway.base_url + "/v1", api_key="sk-client", max_retries=0
    ) as client:
        yield client
