"""``claudegate usage rebuild``: recompute the usage rollups from the ledger."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from rich.console import Console

from claudegate.errors import ClaudegateError

__all__ = ["usage_app"]

usage_app = typer.Typer(help="The usage ledger, in the configured database.", no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


async def _rebuild(config: str | None, database_url: str | None) -> float:
    from claudegate.gateway import load_config
    from claudegate.store import DEFAULT_DATABASE_URL, Database
    from claudegate.store._usage_rollup import rebuild_rollups

    storage = load_config(config).storage if config else None
    url = database_url or (storage.database_url if storage is not None else DEFAULT_DATABASE_URL)
    database = await Database.connect(url, table_prefix=storage.table_prefix if storage else "cg_")
    try:
        began = time.perf_counter()
        await rebuild_rollups(database)
        return time.perf_counter() - began
    finally:
        await database.close()


@usage_app.command("rebuild")
def usage_rebuild(
    config: Annotated[
        str | None, typer.Option("--config", help="Gateway YAML configuration (its storage section).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Database URL (overrides the configuration's).")
    ] = None,
) -> None:
    """Recompute the hourly and daily usage rollups from the ledger, in one transaction."""
    try:
        seconds = asyncio.run(_rebuild(config, database_url))
    except ClaudegateError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"usage rollups rebuilt from the ledger in {seconds:.1f} s")
