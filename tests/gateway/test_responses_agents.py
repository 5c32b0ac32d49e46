"""The OpenAI Agents SDK (``openai-agents``) runs an agent with a function tool through the
gateway's ``/v1/responses`` to the end: the model calls the tool, the SDK runs it and sends the
whole conversation back (its output items as input items), and the model answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from tests.gateway.conftest import Live, serve, simulator_route


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("agents") / "gateway.db"
    config = {"models": [simulator_route()], "storage": {"database_url": f"sqlite+aiosqlite:///{database}"}}
    set_tracing_disabled(True)
    with serve(config) as gateway:
        yield gateway


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("reasoning", [False, True], ids=["plain", "reasoning"])
def test_an_agent_calls_its_tool_and_answers(live: Live, stream: bool, reasoning: bool) -> None:
    called: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: The city's name.
        """
        called.append(city)
        return f"It is 18 degrees and sunny in {city}."

    async def run() -> str:
        client = AsyncOpenAI(base_url=live.base_url + "/v1", api_key="sk-agent", max_retries=0)
        settings = ModelSettings(reasoning={"effort": "low", "summary": "auto"} if reasoning else None)
        agent = Agent(
            name="forecaster",
            instructions="Answer weather questions with the get_weather tool.",
            tools=[get_weather],
            model=OpenAIResponsesModel("claude-sonnet-5", client),
            model_settings=settings,
        )
        try:
            if stream:
                streamed = Runner.run_streamed(agent, "Use get_weather for Lisbon.")
                async for _ in streamed.stream_events():
                    pass
                return str(streamed.final_output)
            result = await Runner.run(agent, "Use get_weather for Lisbon.")
            return str(result.final_output)
        finally:
            await client.close()

    answer = asyncio.run(run())
    assert called and called[0]
    assert "18 degrees and sunny" in answer
