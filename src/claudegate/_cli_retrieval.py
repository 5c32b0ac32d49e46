"""``claudegate index PATH --collection NAME`` and ``claudegate search NAME "query"``: collections
in the configured store (``retrieval`` in the gateway config; else ``claudegate-retrieval.db``),
embedded by the local model, with no gateway running and no network."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from claudegate.retrieval import Retriever

__all__ = ["index", "search"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Gateway config whose retrieval section names the store."),
]
_SUFFIXES = {".md", ".txt", ".rst", ".markdown"}
_BATCH = 64  # files per store write


def _retriever(config: Path | None) -> Retriever:
    from claudegate.gateway import load_config
    from claudegate.gateway._config import RetrievalConfig
    from claudegate.gateway.core import open_store
    from claudegate.retrieval import Retriever

    settings = load_config(config).retrieval if config else RetrievalConfig()
    return Retriever(
        open_store(settings),
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        embedding_model=settings.embedding_model,
    )


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES)


def index(
    path: Annotated[
        Path, typer.Argument(help="A text file, or a folder of .md/.txt/.rst files.", exists=True)
    ],
    collection: Annotated[str, typer.Option("--collection", help="The collection (created if missing).")],
    config: ConfigOption = None,
) -> None:
    """Index files into a collection (document ids are paths relative to PATH; again: replaced)."""
    files = _files(path)
    if not files:
        err_console.print(f"[red]error:[/red] no .md, .txt or .rst files under {path}")
        raise typer.Exit(1)
    asyncio.run(_index(path, files, collection, config))


async def _index(root: Path, files: list[Path], collection: str, config: Path | None) -> None:
    from claudegate.retrieval import Document, RetrievalError, UnknownCollection

    retriever = _retriever(config)
    try:
        try:
            await retriever.store.collection(collection)
        except UnknownCollection:
            await retriever.create_collection(collection)
        chunks = 0
        started = time.perf_counter()
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[chunks]} chunks · {task.fields[rate]:.0f} vectors/s"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"indexing {collection}", total=len(files), chunks=0, rate=0.0)
            for start in range(0, len(files), _BATCH):
                batch = files[start : start + _BATCH]
                documents = [
                    Document(
                        str(file.relative_to(root) if root.is_dir() else file.name), text, {"path": str(file)}
                    )
                    for file in batch
                    if (text := file.read_text(encoding="utf-8", errors="replace")).strip()
                ]
                if documents:
                    chunks += (await retriever.add_documents(collection, documents)).chunks
                rate = chunks / max(time.perf_counter() - started, 1e-9)
                progress.update(task, advance=len(batch), chunks=chunks, rate=rate)
        console.print(f"{collection}: {len(files)} files, {chunks} chunks")
    except RetrievalError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        await retriever.store.close()


def search(
    collection: Annotated[str, typer.Argument(help="The collection to search.")],
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 5,
    config: ConfigOption = None,
) -> None:
    """Search a collection: the best chunks, with scores and sources."""
    asyncio.run(_search(collection, query, top_k, config))


async def _search(collection: str, query: str, top_k: int, config: Path | None) -> None:
    from claudegate.retrieval import RetrievalError

    retriever = _retriever(config)
    try:
        hits = await retriever.search(collection, query, top_k=top_k)
    except RetrievalError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        await retriever.store.close()
    table = Table("score", "source", "text")
    for hit in hits:
        text = hit.text if len(hit.text) <= 160 else hit.text[:160] + "…"
        table.add_row(f"{hit.score:.3f}", hit.chunk_id, text)
    console.print(table)
