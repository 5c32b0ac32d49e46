"""``claudegate batch submit|results``: Message Batches on a running gateway, with a key.

``submit`` reads a JSONL file of ``{"custom_id", "params"}`` lines (the ``requests`` of
``POST /v1/messages/batches``); with ``--wait`` it shows the requests' progress on stderr and then
writes the results to stdout, one JSON line per request, as ``results`` does.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["PROGRESS_HEADER", "batch_app"]

PROGRESS_HEADER = "x-claudegate-progress"
"""Live counts of a batch's requests (the API's own stay ``processing`` until the batch ends)."""

batch_app = typer.Typer(
    help="Message Batches on a running gateway (/v1/messages/batches).", no_args_is_help=True
)
err_console = Console(stderr=True, highlight=False)

UrlOption = Annotated[str, typer.Option("--url", envvar="CLAUDEGATE_URL", help="The gateway's base URL.")]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", envvar="CLAUDEGATE_API_KEY", help="The gateway API key the batch belongs to."),
]


@dataclass(frozen=True, slots=True)
class _Reply:
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return orjson.loads(self.body)


def _request(url: str, key: str | None, method: str, path: str, body: bytes | None = None) -> _Reply:
    """One request to the gateway; exit 1 with the gateway's error message when it refuses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        err_console.print(f"[red]error:[/red] --url must be an http(s) URL, not {url!r}")
        raise typer.Exit(2)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=60)
    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    if key:
        headers["x-api-key"] = key
    try:
        connection.request(method, parts.path.rstrip("/") + path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot reach {url}: {exc}")
        raise typer.Exit(1) from None
    finally:
        connection.close()
    if response.status >= 400:
        try:
            message = orjson.loads(raw)["error"]["message"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            message = raw[:200].decode(errors="replace")
        err_console.print(f"[red]error {response.status}:[/red] {message}", markup=True)
        raise typer.Exit(1)
    return _Reply(raw, {name.lower(): value for name, value in response.getheaders()})


def _read_requests(file: Path) -> list[Any]:
    requests = []
    try:
        text = file.read_bytes()
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot read {file}: {exc.strerror}")
        raise typer.Exit(2) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            requests.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            err_console.print(f"[red]error:[/red] {file}:{number}: not JSON ({exc})")
            raise typer.Exit(2) from None
    if not requests:
        err_console.print(f"[red]error:[/red] {file} holds no requests")
        raise typer.Exit(2)
    return requests


def _progress(reply: _Reply, total: int) -> dict[str, int]:
    """The live counts the gateway reports (all ``processing`` when it reports none)."""
    counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    raw = reply.headers.get(PROGRESS_HEADER)
    if raw:
        for part in raw.split(","):
            name, _, value = part.strip().partition("=")
            if name in counts and value.isascii() and value.isdigit():
                counts[name] = int(value)
    batch = reply.json()
    if batch.get("processing_status") == "ended":
        counts = {name: int(batch["request_counts"].get(name, 0)) for name in counts}
    counts["processing"] = total - sum(counts.values())
    return counts


def _wait(url: str, key: str | None, batch_id: str, total: int, interval: float) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(batch_id, total=total, counts="")
        while True:
            reply = _request(url, key, "GET", f"/v1/messages/batches/{quote(batch_id)}")
            counts = _progress(reply, total)
            shown = " ".join(f"{name} {value}" for name, value in counts.items() if value)
            progress.update(task, completed=total - counts["processing"], counts=shown)
            if reply.json().get("processing_status") == "ended":
                return
            time.sleep(interval)


@batch_app.command("submit")
def batch_submit(
    file: Annotated[Path, typer.Argument(help="JSONL: one {custom_id, params} request per line.")],
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until it ends, then print the results.")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between looks while waiting.")] = 1.0,
) -> None:
    """Submit a Message Batch; prints its id (or, with --wait, its results as JSONL)."""
    requests = _read_requests(file)
    created = _request(url, key, "POST", "/v1/messages/batches", orjson.dumps({"requests": requests})).json()
    batch_id = created["id"]
    if not wait:
        typer.echo(batch_id)
        return
    err_console.print(f"batch {batch_id}: {len(requests)} requests")
    _wait(url, key, batch_id, len(requests), interval)
    _print_results(url, key, batch_id)


def _print_results(url: str, key: str | None, batch_id: str) -> None:
    reply = _request(url, key, "GET", f"/v1/messages/batches/{quote(batch_id)}/results")
    typer.echo(reply.body.decode(), nl=False)


@batch_app.command("results")
def batch_results(
    batch_id: Annotated[str, typer.Argument(help="The batch's id.")],
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
) -> None:
    """An ended batch's results: one JSON line per request, to stdout."""
    _print_results(url, key, batch_id)
