"""The OpenAI Batch API surface: ``/v1/files`` (upload, list, retrieve, content, delete) and
``/v1/batches`` (create, list, retrieve, cancel), as OpenAI's clients call them.

A thin adapter over ``claudegate.gateway.batches``: a batch's input is a file its key uploaded
(one chat completions request per line), its requests run on the job engine as that key, and its
output and error files hold one line per request. A key sees only its own files and batches;
errors come in OpenAI's envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.batches import BatchService, file_json, openai_batch_json, webhook_url
from claudegate.gateway.batches._requests import OPENAI_ENDPOINTS
from claudegate.gateway.core import GatewayCore, GatewayError, Outcome, parse_json_body, shown
from claudegate.gateway.surfaces._multipart import parse_form

__all__ = ["BATCHES", "FILES", "OpenAIBatchesSurface"]

FILES = ("/v1/files", "/files")
BATCHES = ("/v1/batches", "/batches")
_FORM_OVERHEAD = 64 * 1024
_MIN_TTL, _MAX_TTL = 3600, 30 * 24 * 3600
_OCTETS = (b"content-type", b"application/octet-stream")

Route = Callable[[GatewayCore, Exchange], Awaitable[Outcome | None]]


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, "invalid_request_error", message, param)


def _split(path: str, prefixes: tuple[str, ...]) -> list[str] | None:
    """The segments after one of ``prefixes`` ([] for the prefix itself); None: not under them."""
    for prefix in prefixes:
        if path == prefix:
            return []
        if path.startswith(prefix + "/"):
            return path[len(prefix) + 1 :].split("/")
    return None


def _segment(path: str, prefixes: tuple[str, ...]) -> str:
    """The id right after one of ``prefixes`` in a path the router matched."""
    return (_split(path, prefixes) or [""])[0]


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _limit(query: dict[str, list[str]], default: int, most: int) -> int:
    raw = (query.get("limit") or [str(default)])[0]
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise _bad(f"limit: must be an integer from 1 to {most}", "limit")
    return int(raw)


def _listed(data: list[dict[str, Any]], has_more: bool) -> bytes:
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }
    )


def _ttl(fields: dict[str, Any]) -> float | None:
    """``expires_after[seconds]`` (anchored at ``created_at``), when sent."""
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise _bad("expires_after[anchor]: must be 'created_at'", "expires_after[anchor]")
    if (
        seconds is None
        or not (seconds.isascii() and seconds.isdigit())
        or not _MIN_TTL <= int(seconds) <= _MAX_TTL
    ):
        raise _bad(f"expires_after[seconds]: must be from {_MIN_TTL} to {_MAX_TTL}", "expires_after[seconds]")
    return float(seconds)


class OpenAIBatchesSurface:
    """The ``/v1/files`` and ``/v1/batches`` routes of one gateway."""

    def __init__(self, service: BatchService) -> None:
        self.service = service

    def route(self, method: str, path: str) -> Route | None:
        """The handler of ``method path`` (None: not one of these routes)."""
        files = _split(path, FILES)
        if files is not None:
            if not files:
                return {"POST": self.upload, "GET": self.list_files}.get(method)
            if len(files) == 1 and files[0]:
                return {"GET": self.retrieve_file, "DELETE": self.delete_file}.get(method)
            if len(files) == 2 and files[0] and files[1] == "content":
                return self.file_content if method == "GET" else None
            return None
        batches = _split(path, BATCHES)
        if batches is None:
            return None
        if not batches:
            return {"POST": self.create, "GET": self.list_batches}.get(method)
        if len(batches) == 1 and batches[0]:
            return self.retrieve if method == "GET" else None
        if len(batches) == 2 and batches[0] and batches[1] == "cancel":
            return self.cancel if method == "POST" else None
        return None

    # -- files -----------------------------------------------------------------------------------

    async def upload(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        await self.service.open()
        limit = core.config.batches.max_file_bytes + _FORM_OVERHEAD
        form = parse_form(exchange.header(b"content-type"), await exchange.body(limit))
        purpose = form.get("purpose")
        if purpose is None:
            raise _bad("purpose: field required ('batch')", "purpose")
        if purpose.data.decode("utf-8", "replace") != "batch":
            raise _bad("purpose: only 'batch' files are accepted by this gateway", "purpose")
        upload = form.get("file")
        if upload is None or upload.filename is None:
            raise _bad("file: field required (the JSONL file to upload)", "file")
        fields = {
            name: part.data.decode("utf-8", "replace") for name, part in form.items() if part.filename is None
        }
        entry = self.service.files.entry(
            principal.owner, "batch", upload.filename[:512] or "upload.jsonl", len(upload.data), _ttl(fields)
        )
        await self.service.files.add(entry, upload.data)
        await exchange.send_bytes(200, orjson.dumps(file_json(entry)))
        return Outcome()

    async def list_files(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        await self.service.open()
        query = parse_qs(exchange.query)
        order = (query.get("order") or ["desc"])[0]
        if order not in ("asc", "desc"):
            raise _bad("order: must be 'asc' or 'desc'", "order")
        found, has_more = await self.service.files.page(
            principal.owner,
            purpose=_first(query, "purpose"),
            after=_first(query, "after"),
            limit=_limit(query, 10_000, 10_000),
            ascending=order == "asc",
        )
        await exchange.send_bytes(200, _listed([file_json(entry) for entry in found], has_more))
        return Outcome()

    async def _file_id(self, core: GatewayCore, exchange: Exchange) -> tuple[str, str]:
        principal = await core.principal(exchange.credential())
        await self.service.open()
        return _segment(exchange.path, FILES), principal.owner

    @staticmethod
    def _missing(file_id: str) -> GatewayError:
        return GatewayError(404, "not_found_error", f"No such File object: {shown(file_id)}", "id")

    async def retrieve_file(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        file_id, owner = await self._file_id(core, exchange)
        entry = await self.service.files.get(file_id, owner)
        if entry is None:
            raise self._missing(file_id)
        await exchange.send_bytes(200, orjson.dumps(file_json(entry)))
        return Outcome()

    async def file_content(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        file_id, owner = await self._file_id(core, exchange)
        content = await self.service.files.content(file_id, owner)
        if content is None:
            raise self._missing(file_id)
        await exchange.send_bytes(200, content, _OCTETS)
        return Outcome()

    async def delete_file(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        file_id, owner = await self._file_id(core, exchange)
        if not await self.service.files.delete(file_id, owner):
            raise self._missing(file_id)
        await exchange.send_bytes(200, orjson.dumps({"id": file_id, "object": "file", "deleted": True}))
        return Outcome()

    # -- batches ---------------------------------------------------------------------------------

    async def create(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        body = parse_json_body(await exchange.body(core.config.gateway.max_request_bytes))
        unknown = sorted(
            set(body)
            - {
                "input_file_id",
                "endpoint",
                "completion_window",
                "metadata",
                "webhook",
                "output_expires_after",
            }
        )
        if unknown:
            raise _bad(f"{shown(unknown[0])}: unknown parameter", unknown[0])
        input_file_id = body.get("input_file_id")
        if not isinstance(input_file_id, str) or not input_file_id:
            raise _bad("input_file_id: required (the id of an uploaded batch file)", "input_file_id")
        endpoint = body.get("endpoint")
        if endpoint not in OPENAI_ENDPOINTS:
            raise _bad(f"endpoint: this gateway runs batches of {', '.join(OPENAI_ENDPOINTS)}", "endpoint")
        if body.get("completion_window") != "24h":
            raise _bad("completion_window: must be '24h'", "completion_window")
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or len(metadata) > 16
            or not all(isinstance(key, str) and isinstance(value, str) for key, value in metadata.items())
        ):
            raise _bad("metadata: at most 16 string keys with string values", "metadata")
        webhook = webhook_url(body.get("webhook"))
        if webhook is not None:
            await core.webhooks.check_submission(webhook, principal.account)
        batch = await self.service.create_openai(
            principal,
            input_file_id=input_file_id,
            endpoint=str(endpoint),
            completion_window="24h",
            metadata=metadata,
            headers=exchange.forwarded_headers(),
            webhook=webhook,
        )
        batch, counts = await self.service.settle(batch)
        await exchange.send_bytes(200, orjson.dumps(openai_batch_json(batch, counts)))
        return Outcome()

    async def list_batches(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        query = parse_qs(exchange.query)
        found, has_more = await self.service.page(
            principal,
            "openai",
            after=_first(query, "after"),
            before=None,
            limit=_limit(query, 20, 100),
        )
        await exchange.send_bytes(200, _listed([openai_batch_json(b, c) for b, c in found], has_more))
        return Outcome()

    async def retrieve(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        batch_id = _segment(exchange.path, BATCHES)
        batch, counts = await self.service.settle(await self.service.find(batch_id, principal, "openai"))
        await exchange.send_bytes(200, orjson.dumps(openai_batch_json(batch, counts)))
        return Outcome()

    async def cancel(self, core: GatewayCore, exchange: Exchange) -> Outcome:
        principal = await core.principal(exchange.credential())
        batch_id = _segment(exchange.path, BATCHES)
        batch, counts = await self.service.cancel(await self.service.find(batch_id, principal, "openai"))
        await exchange.send_bytes(200, orjson.dumps(openai_batch_json(batch, counts)))
        return Outcome()
