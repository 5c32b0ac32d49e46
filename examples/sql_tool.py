"""A read-only SQL tool over SQLite, run through the tool loop.

    python examples/sql_tool.py                                  # against an in-process simulator
    python examples/sql_tool.py --base-url URL --api-key KEY     # against a real endpoint

Only one SELECT may run. That is decided by parsing, not by looking for keywords: the text is
split into statements by a tokenizer that knows strings, quoted identifiers and comments (each
split confirmed by ``sqlite3.complete_statement``), exactly one statement is allowed, and it runs
on a read-only connection under an authorizer that permits reading and functions, nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from claudegate.client import AsyncClient
from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from claudegate.tools import RunResult, Tool, ToolError, ToolRegistry, ToolRunner

MODEL = "claude-sonnet-4-5"
MAX_ROWS = 50
DEMO_QUERIES = (
    r"^SELECT (name|name, population|name, country) FROM cities"
    r"( WHERE population > [1-9]000000)?( ORDER BY population DESC)?( LIMIT [1-9])?$"
)
"""The simulator invents arguments from the schema: this pattern makes it write demo queries."""

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ACTION_NAMES = {
    getattr(sqlite3, "SQLITE_" + name): name.lower().replace("_", " ")
    for name in (
        "INSERT", "UPDATE", "DELETE", "PRAGMA", "ATTACH", "DETACH", "TRANSACTION", "SAVEPOINT",
        "DROP_TABLE", "DROP_INDEX", "DROP_VIEW", "DROP_TRIGGER", "CREATE_TABLE", "CREATE_INDEX",
        "CREATE_VIEW", "CREATE_TRIGGER", "ALTER_TABLE", "ANALYZE", "REINDEX", "RECURSIVE",
        "CREATE_VTABLE", "DROP_VTABLE", "CREATE_TEMP_TABLE",
    )
    if hasattr(sqlite3, "SQLITE_" + name)
}  # fmt: skip


def create_demo_db(path: Path) -> Path:
    """A small database of cities to query."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE cities (name TEXT PRIMARY KEY, country TEXT, population INTEGER)")
        db.executemany(
            "INSERT INTO cities VALUES (?, ?, ?)",
            [
                ("Tokyo", "Japan", 13960000),
                ("Paris", "France", 2103000),
                ("Lagos", "Nigeria", 15388000),
                ("Lima", "Peru", 10092000),
                ("Oslo", "Norway", 709000),
            ],
        )
    db.close()
    return path


def _end_of_quoted(sql: str, start: int, quote: str) -> int:
    """Index after the closing ``quote`` (a doubled quote is an escaped one), or the text's end."""
    index = start + 1
    while True:
        index = sql.find(quote, index)
        if index < 0:
            return len(sql)
        if quote != "]" and sql.startswith(quote * 2, index):
            index += 2
            continue
        return index + 1


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``; semicolons in strings, quoted names and comments do not split.

    Statements made only of comments and blanks are dropped.
    """
    statements: list[str] = []
    start = index = 0
    has_code = False
    closers = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while index < len(sql):
        char = sql[index]
        if char in closers:
            index = _end_of_quoted(sql, index, closers[char])
            has_code = True
        elif sql.startswith("--", index):
            newline = sql.find("\n", index)
            index = len(sql) if newline < 0 else newline + 1
        elif sql.startswith("/*", index):
            close = sql.find("*/", index + 2)
            index = len(sql) if close < 0 else close + 2
        elif char == ";" and sqlite3.complete_statement(sql[start : index + 1]):
            if has_code:
                statements.append(sql[start : index + 1].strip())
            start = index = index + 1
            has_code = False
        else:
            has_code = has_code or not char.isspace()
            index += 1
    if has_code:
        statements.append(sql[start:].strip())
    return statements


def run_select(db_path: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of one SELECT (at most ``MAX_ROWS``); a ``ToolError`` saying why anything else is refused."""
    statements = split_statements(sql)
    if len(statements) != 1:
        raise ToolError(f"refused: exactly one SELECT statement is allowed, got {len(statements)}")
    refused: list[str] = []

    def authorize(action: int, target: str | None, *_: str | None) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        # DDL is first seen as a write to SQLite's own catalogue (DROP TABLE deletes from sqlite_master).
        internal = (target or "").startswith("sqlite_")
        refused.append("change the schema" if internal else _ACTION_NAMES.get(action, f"code {action}"))
        return sqlite3.SQLITE_DENY

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        db.set_authorizer(authorize)
        cursor = db.execute(statements[0])
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchmany(MAX_ROWS)]
    except sqlite3.DatabaseError as exc:
        if refused:
            raise ToolError(f"refused: only a SELECT may run (refused action: {refused[0]})") from None
        raise ToolError(f"the query failed: {exc}") from None
    finally:
        db.close()


def make_sql_tool(db_path: Path, *, query_pattern: str | None = None) -> Tool:
    """The ``run_sql`` tool over ``db_path`` (``query_pattern`` narrows the schema, for the simulator)."""
    query: dict[str, Any] = {"type": "string", "description": "One SQLite SELECT over the table cities."}
    if query_pattern is not None:
        query["pattern"] = query_pattern
    schema = {"type": "object", "properties": {"query": query}, "required": ["query"]}

    def run_sql(arguments: dict[str, Any]) -> list[dict[str, Any]]:
        return run_select(db_path, arguments["query"])

    description = "Run one read-only SQL SELECT; table cities(name, country, population)."
    return Tool.from_schema("run_sql", schema, run_sql, description=description)


@contextmanager
def endpoint(base_url: str | None) -> Iterator[str]:
    """The given base URL, or an in-process simulator's."""
    if base_url is not None:
        yield base_url
        return
    with LiveServer(create_app()) as server:
        yield server.base_url


async def ask(base_url: str, api_key: str, registry: ToolRegistry, question: str) -> RunResult:
    """Run the tool loop for one question; the ``RunResult``."""
    async with AsyncClient(api_key=api_key, base_url=base_url) as client:
        runner = ToolRunner(client, registry)
        return await runner.run(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": question}]
        )


def main(argv: list[str] | None = None) -> None:
    """Ask which cities are largest, letting the model query the demo database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-url")
    parser.add_argument("--api-key", default="sk-example-000000")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        db_path = create_demo_db(Path(folder) / "demo.db")
        pattern = DEMO_QUERIES if options.base_url is None else None
        registry = ToolRegistry([make_sql_tool(db_path, query_pattern=pattern)])
        with endpoint(options.base_url) as base_url:
            result = asyncio.run(ask(base_url, options.api_key, registry, "Use run_sql: largest cities?"))
        for item in result.tool_results:
            print(f"{item.name} ({item.outcome}): {item.content}")
        print(result.text)


if __name__ == "__main__":
    main(sys.argv[1:])
