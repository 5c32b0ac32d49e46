"""``claudegate jobs list|show|cancel``: a running gateway's ``/v1/jobs``, with a key."""

from __future__ import annotations

import http.client
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import orjson
import typer
from rich.console import Console
from rich.table import Column, Table

__all__ = ["jobs_app"]

jobs_app = typer.Typer(help="Asynchronous jobs on a running gateway (/v1/jobs).", no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

UrlOption = Annotated[str, typer.Option("--url", envvar="CLAUDEGATE_URL", help="The gateway's base URL.")]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", envvar="CLAUDEGATE_API_KEY", help="The gateway API key the jobs belong to."),
]


def _call(url: str, key: str | None, method: str, path: str, timeout: float = 30.0, body: Any = None) -> Any:
    """One request to the gateway (``body`` sent as JSON); its JSON answer, or exit 1 with the
    gateway's error message."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        err_console.print(f"[red]error:[/red] --url must be an http(s) URL, not {url!r}")
        raise typer.Exit(2)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=timeout)
    headers = {"anthropic-version": "2023-06-01"}
    if key:
        headers["x-api-key"] = key
    sent = None
    if body is not None:
        sent = orjson.dumps(body)
        headers["content-type"] = "application/json"
    try:
        connection.request(method, parts.path.rstrip("/") + path, body=sent, headers=headers)
        response = connection.getresponse()
        body = response.read()
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot reach {url}: {exc}")
        raise typer.Exit(1) from None
    finally:
        connection.close()
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if response.status >= 400:
        error = answer.get("error") if isinstance(answer, dict) else None
        message = error.get("message") if isinstance(error, dict) else body[:200].decode(errors="replace")
        err_console.print(f"[red]error {response.status}:[/red] {message}", markup=True)
        raise typer.Exit(1)
    return answer


@jobs_app.command("list")
def jobs_list(
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Jobs per page.")] = 20,
    after: Annotated[str | None, typer.Option(help="Start after this job id (the last one shown).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The page as JSON.")] = False,
) -> None:
    """Your jobs, newest first."""
    path = f"/v1/jobs?limit={limit}" + (f"&after_id={quote(after)}" if after else "")
    page = _call(url, key, "GET", path)
    if as_json:
        typer.echo(orjson.dumps(page).decode())
        return
    table = Table("status", "tries", "priority", "model", "created")
    table.columns.insert(0, Column("id", no_wrap=True, min_width=28))
    for job in page["data"]:
        row = (job["id"], job["status"], str(job["attempts"]), job["priority"], str(job.get("model") or ""))
        table.add_row(*row, job["created_at"])
    console.print(table)
    if page.get("has_more"):
        err_console.print(f"[dim]more: --after {page['last_id']}[/dim]")


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    wait: Annotated[float, typer.Option(min=0, max=60, help="Wait up to this many seconds for its end.")] = 0,
) -> None:
    """A job's state, and its result or error once it ended (JSON)."""
    path = f"/v1/jobs/{quote(job_id)}" + (f"?wait={wait:g}" if wait else "")
    console.print_json(orjson.dumps(_call(url, key, "GET", path, timeout=wait + 30)).decode())


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
) -> None:
    """Cancel a queued or running job (a running one's upstream call is cancelled)."""
    job = _call(url, key, "DELETE", f"/v1/jobs/{quote(job_id)}")
    console.print(f"{job['id']}: {job['status']}", markup=False)
