"""The ``claudegate`` command: ``sim``, ``chat``, ``serve``, ``keys``, ``jobs``, ``batch``, ``webhooks``."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from claudegate import _cli_retrieval
from claudegate._cli_batches import batch_app
from claudegate._cli_events import events_app
from claudegate._cli_jobs import jobs_app
from claudegate._cli_usage import usage_app
from claudegate._webhooks_cli import webhooks_app
from claudegate.errors import ClaudegateError

if TYPE_CHECKING:
    from claudegate.gateway import GatewayConfig
    from claudegate.store import Database, KeyStore

app = typer.Typer(
    name="claudegate",
    help="A typed Claude client, a tool runtime, and a gateway that speaks Anthropic and OpenAI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DEFAULT_SIM_PORT = 8787
DEFAULT_GATEWAY_PORT = 8080
SIM_KEY = "sk-sim-local-0000"


def _wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port}")


def _stream_chat(
    prompt: str, *, base_url: str, api_key: str, model: str, max_tokens: int, system: str | None
) -> None:
    from claudegate.client import CacheUsage, Client, MessageCreateArgs

    args: MessageCreateArgs = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
    }
    if system:
        args["system"] = system
    with Client(api_key=api_key, base_url=base_url) as client:
        with client.messages.stream(**args) as stream:
            for text in stream.text_stream:
                console.print(text, end="", markup=False, soft_wrap=True)
            message = stream.get_final_message()
        console.print()
        usage = CacheUsage.from_usage(message.usage)
        console.print(f"[dim]{message.model} · stop: {message.stop_reason} · {usage}[/dim]")


@app.command()
def chat(
    prompt: Annotated[str, typer.Argument(help="What to say to the model.")],
    base_url: Annotated[
        str | None, typer.Option(help="API base URL; default: a built-in simulator on loopback.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="API key; default: ANTHROPIC_API_KEY or the secrets file.", show_default=False),
    ] = None,
    model: Annotated[str, typer.Option(help="Model name.")] = "claude-sonnet-5",
    max_tokens: Annotated[int, typer.Option(help="Most tokens to generate.")] = 1024,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
) -> None:
    """Stream a reply to the terminal, from the simulator by default or from any Claude API."""
    try:
        if base_url is None:
            from claudegate.simulator import create_app
            from claudegate.testing import LiveServer

            with LiveServer(create_app()) as server:
                _stream_chat(
                    prompt,
                    base_url=server.base_url,
                    api_key=api_key or SIM_KEY,
                    model=model,
                    max_tokens=max_tokens,
                    system=system,
                )
        else:
            from claudegate.client import resolve_api_key

            resolved = resolve_api_key(api_key)
            if resolved is None:
                raise typer.BadParameter(
                    "no API key: pass --api-key, set ANTHROPIC_API_KEY, or add it to secret/-secrets.sh",
                    param_hint="--api-key",
                )
            _stream_chat(
                prompt,
                base_url=base_url,
                api_key=resolved.reveal(),
                model=model,
                max_tokens=max_tokens,
                system=system,
            )
    except ClaudegateError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command()
def sim(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_SIM_PORT,
    fault: Annotated[
        str | None, typer.Option(help="Inject this fault into every request (same syntax as x-sim-fault).")
    ] = None,
    ttft: Annotated[float, typer.Option(help="Seconds before the first token.")] = 0.0,
    event_delay: Annotated[float, typer.Option(help="Seconds between stream events.")] = 0.0,
    batch_delay: Annotated[float, typer.Option(help="Seconds a batch takes to process.")] = 1.0,
    demo: Annotated[
        str | None, typer.Option(help="Once serving, stream a `chat` with this prompt against the simulator.")
    ] = None,
    salesforce: Annotated[
        bool, typer.Option(help="Also serve Salesforce's Models API (token and chat-generations routes).")
    ] = False,
) -> None:
    """Run the simulator: a protocol-exact local Claude (Anthropic and OpenAI wire formats)."""
    from claudegate.simulator import SimulatorConfig, serve

    config = SimulatorConfig(
        fault=fault, time_to_first_token=ttft, event_delay=event_delay, batch_delay=batch_delay
    )
    base_url = f"http://{host}:{port}"
    console.print(f"[bold]claudegate simulator[/bold] on {base_url}")
    console.print("[dim]Anthropic: POST /v1/messages · OpenAI: POST /v1/chat/completions[/dim]")
    if demo:

        def run_demo() -> None:
            try:
                _wait_for_port(host, port)
                console.print(f"[dim]$ claudegate chat {demo!r} --base-url {base_url}[/dim]")
                _stream_chat(
                    demo,
                    base_url=base_url,
                    api_key=SIM_KEY,
                    model="claude-sonnet-5",
                    max_tokens=256,
                    system=None,
                )
                console.print(f"[dim]simulator still serving on {base_url}; Ctrl-C stops it[/dim]")
            except (ClaudegateError, TimeoutError) as exc:
                err_console.print(f"[red]demo chat failed:[/red] {exc}")

        threading.Thread(target=run_demo, name="claudegate-demo", daemon=True).start()
    if salesforce:
        console.print(
            "[dim]Salesforce: POST /services/oauth2/token (sim-client / sim-secret) · chat-generations[/dim]"
        )
    serve(host, port, config, salesforce=salesforce)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    config: Annotated[
        str | None, typer.Option(help="YAML configuration; default: every model to the built-in simulator.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_GATEWAY_PORT,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    allow_open: Annotated[
        bool, typer.Option(help="Serve a non-loopback address even though no API key has been issued.")
    ] = False,
) -> None:
    """Run the gateway: Anthropic and OpenAI endpoints in front of the configured upstreams.

    With ``--config`` the file is watched: a change (or ``SIGHUP``) reloads it without a restart.
    """
    from claudegate.gateway import create_app, default_config, keys_issued, load_config
    from claudegate.gateway import serve as run

    try:
        loaded = load_config(config) if config else None
        gateway = create_app(loaded, config_path=config)
        settings = loaded or default_config()
        explicit_open = settings.auth is not None and not settings.auth.enforce
        tokens = settings.auth is not None and settings.auth.jwt is not None
        issued = not explicit_open and (tokens or asyncio.run(keys_issued(settings)))
    except ClaudegateError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    if not issued and not _loopback(host) and not allow_open:
        err_console.print(
            f"[red]refusing to serve {host} open:[/red] no API key has been issued. Create keys "
            "(`claudegate keys create`), or pass --allow-open."
        )
        raise typer.Exit(2)

    def banner(base_url: str) -> None:
        console.print(f"[bold]claudegate gateway[/bold] on {base_url}", soft_wrap=True)
        if gateway.core.auth_enforced and tokens:
            console.print("JWTs (auth.jwt) and API keys: every request needs one (Authorization: Bearer)")
        elif gateway.core.auth_enforced and issued:
            console.print("API keys issued: every request needs one (x-api-key or Authorization: Bearer)")
        elif explicit_open:
            console.print(
                "[yellow]open gateway:[/yellow] auth.enforce is false, callers without a key are admitted"
            )
        else:
            console.print("[yellow]open gateway:[/yellow] no API keys issued, every caller is admitted")
        if config is None:
            console.print("[dim]no --config: every model name is served by the built-in simulator[/dim]")
        else:
            console.print(f"[dim]watching {config} for changes (SIGHUP reloads it too)[/dim]")
        console.print(
            "[dim]Anthropic: POST /v1/messages · OpenAI: POST /v1/chat/completions · "
            "/v1/models · /metrics[/dim]"
        )

    if not run(gateway, host, port, log_level=log_level, on_started=banner):
        raise typer.Exit(3)  # as uvicorn.run does: a failed start


keys_app = typer.Typer(help="Gateway API keys, in the configured database.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")
app.add_typer(events_app, name="events")
app.add_typer(batch_app, name="batch")
app.command("index")(_cli_retrieval.index)
app.command("search")(_cli_retrieval.search)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(usage_app, name="usage")

ConfigOption = Annotated[
    str | None, typer.Option("--config", help="Gateway YAML configuration (its storage section).")
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Database URL (overrides the configuration's).")
]


async def _open_keys(config: GatewayConfig | None, database_url: str | None) -> tuple[KeyStore, Database]:
    from claudegate.store import DEFAULT_DATABASE_URL, Database, KeyStore

    storage = config.storage if config is not None else None
    url = database_url or (storage.database_url if storage is not None else DEFAULT_DATABASE_URL)
    database = await Database.connect(url, table_prefix=storage.table_prefix if storage else "cg_")
    return KeyStore(database), database


def _keys_config(config: str | None) -> GatewayConfig | None:
    from claudegate.gateway import load_config

    return load_config(config) if config else None


async def _keys_call(
    config: str | None, database_url: str | None, action: Callable[[KeyStore], Awaitable[None]]
) -> None:
    store, database = await _open_keys(_keys_config(config), database_url)
    try:
        await action(store)
    finally:
        await database.close()


def _run_keys(
    config: str | None, database_url: str | None, action: Callable[[KeyStore], Awaitable[None]]
) -> None:
    try:
        asyncio.run(_keys_call(config, database_url, action))
    except ClaudegateError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A label for the key (who or what uses it).")],
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    model: Annotated[
        list[str] | None, typer.Option(help="A model the key may use (repeat; default: all).")
    ] = None,
    requests_per_minute: Annotated[int | None, typer.Option(help="Requests per minute.")] = None,
    input_tokens_per_minute: Annotated[int | None, typer.Option(help="Input tokens per minute.")] = None,
    output_tokens_per_minute: Annotated[int | None, typer.Option(help="Output tokens per minute.")] = None,
    concurrent_requests: Annotated[int | None, typer.Option(help="Requests in flight at once.")] = None,
    cost_per_day: Annotated[float | None, typer.Option(help="Spend cap per UTC day, USD.")] = None,
    cost_per_month: Annotated[float | None, typer.Option(help="Spend cap per UTC month, USD.")] = None,
) -> None:
    """Issue a key; its plaintext is printed this once and stored only as a hash."""
    from claudegate.store import KeyBudget, KeyLimits

    async def create(store: KeyStore) -> None:
        created = await store.create(
            name,
            allowed_models=model or (),
            limits=KeyLimits(
                requests_per_minute, input_tokens_per_minute, output_tokens_per_minute, concurrent_requests
            ),
            budget=KeyBudget(cost_per_day, cost_per_month),
        )
        console.print(f"id:  {created.key.id}")
        console.print(f"key: {created.plaintext}", markup=False)
        err_console.print("[dim]the key is shown once; only its hash is stored[/dim]")

    _run_keys(config, database_url, create)


@keys_app.command("list")
def keys_list(
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Every key's metadata (never a key itself)."""
    import orjson

    from claudegate.gateway.surfaces.admin import key_to_json

    async def show(store: KeyStore) -> None:
        keys = await store.list()
        if as_json:
            typer.echo(orjson.dumps([key_to_json(key) for key in keys]).decode())
            return
        for key in keys:
            state = "revoked" if key.revoked_at else "active"
            models = ",".join(key.allowed_models) or "*"
            console.print(f"{key.id}  {key.prefix}…  {state:7}  {models}  {key.name}", markup=False)

    _run_keys(config, database_url, show)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")],
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a key for good (gateways stop accepting it within auth.cache_seconds)."""

    async def revoke(store: KeyStore) -> None:
        key = await store.revoke(key_id)
        console.print(f"revoked {key.id} ({key.name})", markup=False)

    _run_keys(config, database_url, revoke)


def main() -> None:
    """Entry point of the ``claudegate`` console script."""
    app()


if __name__ == "__main__":
    main()
