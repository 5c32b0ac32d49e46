"""``claudegate events dead|replay``: a running gateway's dead-lettered event runs, with a key."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from claudegate._cli_jobs import KeyOption, UrlOption, _call

__all__ = ["events_app"]

events_app = typer.Typer(help="Event pipelines on a running gateway (/v1/events).", no_args_is_help=True)
console = Console(highlight=False)


def _show(runs: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(orjson.dumps(runs).decode())
        return
    table = Table("event", "type", "pipeline", "tries", "error")
    for run in runs:
        error = run.get("error") or {}
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        table.add_row(
            str(run["event_id"]), str(run["event_type"]), str(run["pipeline"]), str(run["attempts"]), message
        )
    console.print(table)


@events_app.command("dead")
def events_dead(
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Runs shown.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="The runs as JSON.")] = False,
) -> None:
    """Your dead event runs (every attempt failed), newest first."""
    _show(_call(url, key, "GET", f"/v1/events/dead?limit={limit}")["data"], as_json)


@events_app.command("replay")
def events_replay(
    event_ids: Annotated[
        list[str] | None, typer.Argument(help="Events to replay (default: every dead one).")
    ] = None,
    url: UrlOption = "http://127.0.0.1:8080",
    key: KeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The runs queued again as JSON.")] = False,
) -> None:
    """Queue your dead event runs again (each once), to run through their pipelines."""
    answer = _call(url, key, "POST", "/v1/events/dead/replay", body={"event_ids": event_ids or []})
    runs: list[dict[str, Any]] = answer["data"]
    _show(runs, as_json)
    if not as_json:
        console.print(f"{len(runs)} run{'s' if len(runs) != 1 else ''} queued again")
