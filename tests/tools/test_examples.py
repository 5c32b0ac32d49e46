from __future__ import annotations

import importlib.util
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from claudegate.simulator import create_app
from claudegate.testing import LiveServer
from claudegate.tools import ToolCall, ToolError, ToolExecutor, ToolRegistry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "sk-test-000000"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sql_tool = _load("sql_tool")
weather_tool = _load("weather_tool")
http_tool = _load("http_tool")


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    with LiveServer(create_app()) as server:
        yield server.base_url


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path: Path = sql_tool.create_demo_db(tmp_path / "demo.db")
    return path


def _city_count(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        count: int = db.execute("SELECT count(*) FROM cities").fetchone()[0]
        return count
    finally:
        db.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DROP TABLE cities", "change the schema"),
        ("SELECT 1; DELETE FROM cities", "exactly one SELECT"),
        ("SELECT ';'; DELETE FROM cities", "exactly one SELECT"),
        ("/* ; */ DELETE FROM cities", "delete"),
        ("SELECT 1 /* ; */; UPDATE cities SET population = 0", "exactly one SELECT"),
        ("SELECT 1 -- harmless\n; DELETE FROM cities", "exactly one SELECT"),
        ("WITH doomed AS (SELECT name FROM cities) DELETE FROM cities WHERE name IN doomed", "delete"),
        ("PRAGMA journal_mode = DELETE", "pragma"),
        ("ATTACH DATABASE ':memory:' AS other", "attach"),
        ("INSERT INTO cities VALUES ('x', 'y', 1)", "insert"),
    ],
)
def test_sql_tool_refuses_anything_but_one_select(db_path: Path, sql: str, reason: str) -> None:
    with pytest.raises(ToolError, match="refused") as caught:
        sql_tool.run_select(db_path, sql)
    assert reason in caught.value.message
    assert _city_count(db_path) == 5


def test_semicolons_in_strings_quoted_names_and_comments_do_not_split() -> None:
    text = "SELECT 'a;b', \"c;d\", [e;f] -- ;\n /* ; */ FROM cities;  -- trailing ; comment"
    assert sql_tool.split_statements(text) == [text[: text.index("cities;") + 7]]
    assert sql_tool.split_statements("SELECT 1; SELECT 2") == ["SELECT 1;", "SELECT 2"]
    assert sql_tool.split_statements("-- nothing ; here\n/* ; */") == []


def test_a_select_with_a_comment_runs_and_a_broken_one_says_why(db_path: Path) -> None:
    rows = sql_tool.run_select(db_path, "SELECT name FROM cities -- ; DROP TABLE cities\nWHERE name = 'Oslo'")
    assert rows == [{"name": "Oslo"}]
    with pytest.raises(ToolError, match="the query failed"):
        sql_tool.run_select(db_path, "SELECT nope FROM cities")


async def test_a_refusal_reaches_the_model_as_an_error_result(db_path: Path) -> None:
    with ToolExecutor([sql_tool.make_sql_tool(db_path)]) as executor:
        result = await executor.run(ToolCall("toolu_1", "run_sql", {"query": "DROP TABLE cities"}))
    assert result.is_error and result.outcome == "error" and "change the schema" in result.content


async def test_a_select_runs_through_the_loop_against_the_simulator(
    db_path: Path, simulator_url: str
) -> None:
    registry = ToolRegistry([sql_tool.make_sql_tool(db_path, query_pattern=sql_tool.DEMO_QUERIES)])
    result = await sql_tool.ask(simulator_url, KEY, registry, "Use run_sql: largest cities?")
    (call,) = result.tool_results
    assert call.outcome == "ok" and not call.is_error
    assert any(city in call.content for city in ("Tokyo", "Lagos", "Lima", "Paris", "Oslo"))
    assert result.stop == "end_turn"


async def test_weather_runs_through_the_loop(simulator_url: str) -> None:
    result = await weather_tool.ask(simulator_url, KEY, "Use get_forecast for Paris")
    (call,) = result.tool_results
    assert call.outcome == "ok" and '"temperature"' in call.content


async def test_weather_out_of_bounds_and_off_enum_arguments_name_the_field() -> None:
    refused = await weather_tool.out_of_bounds()
    assert refused.is_error and refused.outcome == "invalid" and "days" in refused.content
    with ToolExecutor([weather_tool.get_forecast]) as executor:
        result = await executor.run(ToolCall("toolu_2", "get_forecast", {"city": "Oslo", "unit": "kelvin"}))
    assert result.is_error and "unit" in result.content


async def test_http_tool_calls_the_api_through_the_loop(simulator_url: str) -> None:
    with LiveServer(http_tool.create_quotes_api()) as api:
        registry = ToolRegistry([http_tool.make_quote_tool(api.base_url, timeout=2.0)])
        result = await http_tool.ask(simulator_url, KEY, registry, "Use get_quote for ACME")
    (call,) = result.tool_results
    assert call.outcome == "ok" and '"price"' in call.content


async def test_a_slow_api_gives_the_tools_timeout_result() -> None:
    with (
        LiveServer(http_tool.create_quotes_api(delay=0.6)) as api,
        ToolExecutor([http_tool.make_quote_tool(api.base_url, timeout=0.15)]) as executor,
    ):
        result = await executor.run(ToolCall("toolu_3", "get_quote", {"symbol": "ACME"}))
    assert result.outcome == "timeout" and result.is_error
    assert "timed out after 0.15 s" in result.content


@pytest.mark.parametrize("module", [sql_tool, weather_tool, http_tool], ids=lambda m: m.__name__)
def test_each_example_runs_as_a_script(module: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    module.main([])
    output = capsys.readouterr().out
    assert "(ok)" in output
