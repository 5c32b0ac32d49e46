"""A batch's webhook: one signed delivery once the whole batch has ended (Message Batches and
OpenAI batches), through the job engine's deliveries."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.gateway import _wire
from tests.gateway._receiver import receiver
from tests.gateway.conftest import serve, simulator_route

ASK = {"model": "claude-sonnet-5", "max_tokens": 30, "messages": [{"role": "user", "content": "hello"}]}
SECRET = "whsec_" + base64.b64encode(b"batch-test-webhook-secret-0123").decode()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CG_TEST_WEBHOOK_SECRET", SECRET)
    return {
        "models": [simulator_route()],
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"},
        "webhooks": {"secret": "env:CG_TEST_WEBHOOK_SECRET", "allow_private": ["127.0.0.0/8"]},
    }


def upload(base_url: str, content: bytes) -> str:
    boundary = "cg-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
            "Content-Type: application/jsonl\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    reply = _wire.call(base_url, "POST", "/v1/files", body, headers)
    assert reply.status == 200, reply.body
    file_id: str = reply.json()["id"]
    return file_id


async def test_each_batch_kind_calls_its_webhook_once_it_has_ended(config: dict[str, Any]) -> None:
    line = {"custom_id": "one", "method": "POST", "url": "/v1/chat/completions", "body": ASK}
    async with receiver() as hooks:
        with serve(config) as live:
            hook = {"url": hooks.url()}
            requests = [{"custom_id": f"r-{i}", "params": ASK} for i in range(3)]
            created = await asyncio.to_thread(
                _wire.call,
                live.base_url,
                "POST",
                "/v1/messages/batches",
                {"requests": requests, "webhook": hook},
                {"anthropic-version": "2023-06-01"},
            )
            assert created.status == 200, created.body
            engine = live.app.jobs.engine_if_open
            assert engine is not None
            attempts = threading.Semaphore(0)
            engine.deliveries.on_attempt = lambda _: attempts.release()
            assert await asyncio.to_thread(attempts.acquire, True, 30)
            file_id = await asyncio.to_thread(upload, live.base_url, json.dumps(line).encode() + b"\n")
            body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
            openai = await asyncio.to_thread(
                _wire.call, live.base_url, "POST", "/v1/batches", {**body, "webhook": hook}
            )
            assert openai.status == 200, openai.body
            assert await asyncio.to_thread(attempts.acquire, True, 30)
    first, second = (Webhook(SECRET).verify(item.body, item.headers) for item in hooks.received)
    assert len(hooks.received) == 2
    assert first["type"] == "message_batch.ended" and first["data"]["id"] == created.json()["id"]
    assert first["data"]["processing_status"] == "ended" and first["data"]["request_counts"]["succeeded"] == 3
    assert first["data"]["results_url"].startswith(live.base_url)
    assert second["type"] == "batch.completed" and second["data"]["id"] == openai.json()["id"]
    assert second["data"]["output_file_id"] is not None
