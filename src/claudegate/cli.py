"""The ``claudegate`` command: ``sim`` and ``chat`` (more commands join as parts land)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Annotated

import typer
from rich.console import Console

from claudegate.errors import ClaudegateError

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


@app.command()
def serve(
    config: Annotated[
        str | None, typer.Option(help="YAML configuration; default: every model to the built-in simulator.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_GATEWAY_PORT,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the gateway: Anthropic and OpenAI endpoints in front of the configured upstreams."""
    from claudegate.gateway import create_app, load_config
    from claudegate.gateway import serve as run

    try:
        gateway = create_app(load_config(config) if config else None)
    except ClaudegateError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    base_url = f"http://{host}:{port}"
    console.print(f"[bold]claudegate gateway[/bold] on {base_url}")
    if config is None:
        console.print("[dim]no --config: every model name is served by the built-in simulator[/dim]")
    console.print(
        "[dim]Anthropic: POST /v1/messages · OpenAI: POST /v1/chat/completions · /v1/models · /metrics[/dim]"
    )
    run(gateway, host, port, log_level=log_level)


def main() -> None:
    """Entry point of the ``claudegate`` console script."""
    app()


if __name__ == "__main__":
    main()
