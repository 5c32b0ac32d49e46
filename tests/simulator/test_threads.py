"""The simulator's message threads, through the official SDK: create, continue, the thread helper
and tool runner, and each refusal with the ``error_code`` the SDK reads."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest
from anthropic import beta_tool
from anthropic.types.beta import BetaMessage

from claudegate.translate.threads import THREADS_BETA
from tests.simulator.conftest import Live

MODEL = "claude-sonnet-4-5"


@beta_tool
def get_time(zone: str) -> str:
    """The local time in a zone.

    Args:
        zone: an IANA zone name
    """
    return f"12:00 in {zone}"


async def create(client: anthropic.AsyncAnthropic, text: str, **fields: Any) -> BetaMessage:
    message: BetaMessage = await client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": text}],
        betas=[THREADS_BETA],
        **fields,
    )
    return message


async def test_a_continue_is_answered_with_the_whole_conversation(
    client: anthropic.AsyncAnthropic, server: Live
) -> None:
    first = await create(
        client, "Use get_time for Tokyo.", tools=[get_time.to_dict()], thread={"type": "create"}
    )
    tool_use = next(block for block in first.content if block.type == "tool_use")
    second = await client.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "9"}]}
        ],
        thread={"type": "continue", "previous_message_id": first.id},
        betas=[THREADS_BETA],
    )
    assert first.stop_reason == "tool_use" and second.stop_reason == "end_turn"
    assert "get_time" in second.content[0].text  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError) as again:
        await create(client, "once more", thread={"type": "continue", "previous_message_id": first.id})
    assert again.value.error_code == "thread_already_continued"


async def test_unknown_expired_and_changed_threads_are_refused(
    client: anthropic.AsyncAnthropic, server: Live
) -> None:
    threads = server.app.simulator.threads
    now = [100.0]
    threads.clock = lambda: now[0]
    try:
        with pytest.raises(anthropic.NotFoundError) as unknown:
            await create(client, "hi", thread={"type": "continue", "previous_message_id": "msg_01Unknown"})
        first = await create(client, "hi", system="Be brief.", thread={"type": "create"})
        with pytest.raises(anthropic.BadRequestError) as changed:
            await create(
                client,
                "next",
                system="Be long.",
                thread={"type": "continue", "previous_message_id": first.id},
            )
        same = await create(
            client, "next", system="Be brief.", thread={"type": "continue", "previous_message_id": first.id}
        )
        now[0] += threads.ttl + 1
        with pytest.raises(anthropic.NotFoundError) as expired:
            await create(client, "later", thread={"type": "continue", "previous_message_id": same.id})
    finally:
        threads.clock = time.monotonic
    assert unknown.value.error_code == "thread_not_found"
    assert changed.value.error_code == "thread_fingerprint_mismatch" and "`system`" in changed.value.message
    assert expired.value.error_code == "thread_not_found"


async def test_a_malformed_thread_names_the_field(client: anthropic.AsyncAnthropic, server: Live) -> None:
    with pytest.raises(anthropic.BadRequestError) as missing:
        await create(client, "hi", extra_body={"thread": {"type": "continue"}})
    assert "thread.previous_message_id: Field required" in missing.value.message


async def test_the_sdk_tool_runner_streams_over_a_thread(
    client: anthropic.AsyncAnthropic, server: Live
) -> None:
    runner = client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=200,
        tools=[get_time_async],
        messages=[{"role": "user", "content": "Use get_time_async for Lima."}],
        stream=True,
    )
    replies = [await stream.get_final_message() async for stream in runner]
    assert [reply.stop_reason for reply in replies] == ["tool_use", "end_turn"]
    assert runner._thread.previous_message_id == replies[-1].id  # still threading at the end


@anthropic.beta_async_tool
async def get_time_async(zone: str) -> str:
    """The local time in a zone.

    Args:
        zone: an IANA zone name
    """
    return f"12:00 in {zone}"
