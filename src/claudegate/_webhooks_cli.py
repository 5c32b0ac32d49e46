"""``claudegate webhooks``: create a key's webhook signing secret, and check a delivery locally."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from claudegate.errors import ClaudegateError, UserError

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help="Signed job webhooks: signing secrets, and checking a delivery.", no_args_is_help=True
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


async def _create_in_database(
    key_id: str, config: str | None, database_url: str | None, overlap: float | None
) -> dict[str, Any]:
    from claudegate.cli import _keys_config, _open_keys
    from claudegate.gateway import default_config
    from claudegate.gateway.webhooks import Webhooks, secret_owner

    loaded = _keys_config(config)
    keys, database = await _open_keys(loaded, database_url)
    try:
        webhooks = Webhooks((loaded or default_config()).webhooks, database)
        created = await webhooks.create_secret(await secret_owner(keys, key_id), overlap)
    finally:
        await database.close()
    previous = created.previous_expires_at
    return {
        "owner": created.owner,
        "secret": created.secret,
        "previous_secret_expires_at": previous.isoformat() if previous is not None else None,
    }


def _create_through_gateway(
    key_id: str, gateway: str, admin_key: str, overlap: float | None
) -> dict[str, Any]:
    from claudegate.gateway._config import resolve_text

    credential = resolve_text(admin_key, "--admin-key").strip()
    path = f"/admin/keys/{urllib.parse.quote(key_id, safe=':')}/webhook-secret"
    body = json.dumps({"overlap": overlap} if overlap is not None else {}).encode()
    request = urllib.request.Request(
        gateway.rstrip("/") + path,
        data=body,
        method="POST",
        headers={"content-type": "application/json", "x-api-key": credential},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # the operator's own gateway
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", {}).get("message", exc.reason)
        raise UserError(f"the gateway answered {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise UserError(f"cannot reach the gateway at {gateway}: {exc.reason}") from None
    return answer


@webhooks_app.command("secret")
def webhooks_secret(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`), or jwt:<subject>.")],
    config: Annotated[
        str | None, typer.Option("--config", help="Gateway YAML configuration (its storage section).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Database URL (overrides the configuration's).")
    ] = None,
    overlap: Annotated[
        float | None,
        typer.Option(help="Seconds the previous secret keeps signing (default: webhooks.rotation_overlap)."),
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="A running gateway's URL: ask its admin API instead of the database.")
    ] = None,
    admin_key: Annotated[
        str, typer.Option(help="With --gateway: where the admin key is (env:NAME or secret:NAME).")
    ] = "env:CLAUDEGATE_ADMIN_KEY",
) -> None:
    """Create a key's webhook signing secret, or rotate it: printed this once.

    While the previous secret overlaps, deliveries carry a signature by each."""
    try:
        if gateway is not None:
            created = _create_through_gateway(key_id, gateway, admin_key, overlap)
        else:
            created = asyncio.run(_create_in_database(key_id, config, database_url, overlap))
    except ClaudegateError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"owner:  {created['owner']}", markup=False)
    console.print(f"secret: {created['secret']}", markup=False)
    note = "the secret is shown once; give it to whoever verifies this key's webhooks"
    if created.get("previous_secret_expires_at"):
        note += f"; the previous one also signs until {created['previous_secret_expires_at']}"
    err_console.print(f"[dim]{note}[/dim]")


def _read_headers(header: list[str], headers_file: Path | None) -> dict[str, str]:
    found: dict[str, str] = {}
    lines: list[str] = []
    if headers_file is not None:
        text = headers_file.read_text(encoding="utf-8")
        if text.lstrip().startswith("{"):
            found = {str(name).lower(): str(value) for name, value in json.loads(text).items()}
        else:
            lines = text.splitlines()
    for line in [*lines, *header]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            found[name.strip().lower()] = value.strip()
    return found


@webhooks_app.command("verify")
def webhooks_verify(
    body: Annotated[Path, typer.Option(help="The delivery's body, exactly as received ('-': stdin).")],
    secret: Annotated[
        str, typer.Option(help="The signing secret: whsec_…, or where it is (env:NAME, secret:NAME).")
    ],
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'name: value' (repeat for each).")
    ] = None,
    headers: Annotated[
        Path | None,
        typer.Option("--headers", help="A file of the delivery's headers: 'Name: value' lines or JSON."),
    ] = None,
) -> None:
    """Check a delivery's signature locally (webhook-id, webhook-timestamp, webhook-signature).

    Exit code 0: signed by this secret within the last five minutes; 1: not."""
    import sys

    from claudegate.gateway._config import resolve_text
    from claudegate.gateway.webhooks import WebhookVerificationError, check_secret, verify

    try:
        value = resolve_text(secret, "--secret") if secret.startswith(("env:", "secret:")) else secret
        value = check_secret(value, "--secret")
        raw = sys.stdin.buffer.read() if str(body) == "-" else body.read_bytes()
        found = _read_headers(header or [], headers)
    except (ClaudegateError, OSError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        payload = verify(value, found, raw)
    except WebhookVerificationError as exc:
        console.print(f"[red]not verified:[/red] {exc}")
        raise typer.Exit(1) from None
    except ValueError:
        console.print("[red]not verified:[/red] the signature matches but the body is not JSON")
        raise typer.Exit(1) from None
    kind = payload.get("type") if isinstance(payload, dict) else None
    console.print(f"[green]verified:[/green] webhook-id {found['webhook-id']}, type {kind}", markup=True)
