"""Event pipelines as declared: config validation, tools from the configured modules only, event
matching, and prompts rendered in the sandbox (payloads are data; escapes are refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claudegate.errors import UserError
from claudegate.gateway import ConfigError, load_config, parse_config
from claudegate.gateway.events import (
    Batching,
    Pipeline,
    Pipelines,
    PromptTemplate,
    StreamWindow,
    TemplateRefused,
    load_tools,
)
from tests.gateway import _event_tools

_MODELS = [{"name": "*", "deployments": [{"provider": "simulator"}]}]


def _events(events: dict[str, Any]) -> Pipelines:
    return Pipelines.from_config(parse_config({"models": _MODELS, "events": events}).events)


def _error(events: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _events(events)
    return caught.value


def test_a_configured_pipeline_renders_its_request_with_its_tools() -> None:
    pipelines = _events(
        {
            "tool_modules": ["tests.gateway._event_tools"],
            "pipelines": [
                {
                    "on": "content.submitted",
                    "model": "claude-haiku-4-5",
                    "prompt": "Moderate this content: {{ payload.text }}",
                    "system": "You moderate {{ type }} events.",
                    "tools": ["check_policy_violations"],
                    "priority": "high",
                    "concurrency": 4,
                    "emit": "content.moderated",
                }
            ],
        }
    )
    (pipeline,) = pipelines.matching("content.submitted")
    assert (pipeline.priority, pipeline.concurrency, pipeline.label) == ("high", 4, "content.submitted")
    event = {"id": "ev_1", "type": "content.submitted", "payload": {"text": "hello"}}
    request = pipeline.request(event)
    assert request["messages"] == [{"role": "user", "content": "Moderate this content: hello"}]
    assert request["system"] == "You moderate content.submitted events."
    assert [tool["name"] for tool in request["tools"]] == ["check_policy_violations"]
    assert pipeline.result_type("content.submitted") == "content.moderated"


def test_globs_choose_pipelines_and_the_result_type_defaults_to_processed() -> None:
    pipelines = _events(
        {
            "pipelines": [
                {"name": "all-users", "on": ["user.*"], "model": "m", "prompt": "{{ type }}"},
                {"name": "logins", "on": ["user.log?n"], "model": "m", "prompt": "{{ id }}"},
            ]
        }
    )
    assert [p.label for p in pipelines.matching("user.login")] == ["all-users", "logins"]
    assert [p.label for p in pipelines.matching("user.signup")] == ["all-users"]
    assert pipelines.matching("order.placed") == []
    assert pipelines.matching("xuser.login") == []
    assert pipelines.matching("user.signup")[0].result_type("user.signup") == "user.signup.processed"


@pytest.mark.parametrize(
    ("events", "field", "words"),
    [
        ({"pipelines": [{"on": [], "model": "m", "prompt": "p"}]}, "events.pipelines[0].on", "at least 1"),
        (
            {"pipelines": [{"on": "a", "model": "m", "prompt": "{{ x"}]},
            "events.pipelines[0].prompt",
            "template",
        ),
        ({"pipelines": [{"on": "a", "model": "m", "prompt": "p", "priority": "urgent"}]}, "priority", "high"),
        (
            {"pipelines": [{"on": "a", "model": "m", "prompt": "p", "concurrency": 0}]},
            "concurrency",
            "greater than or equal to 1",
        ),
        ({"pipelines": [{"on": "a", "model": "m", "prompt": "p", "batch": {}}]}, "batch.size", "required"),
        (
            {"pipelines": [{"on": "a", "model": "m", "prompt": "p", "batch": {"size": 0, "wait": 1}}]},
            "events.pipelines[0].batch.size",
            "greater than or equal to 1",
        ),
        (
            {"pipelines": [{"on": "a", "model": "m", "prompt": "p", "batch": {"size": 5, "wait": "0s"}}]},
            "events.pipelines[0].batch.wait",
            "greater than 0",
        ),
        (
            {"pipelines": [{"on": "a", "model": "m", "prompt": "p", "batch": {"size": 5, "wait": "soon"}}]},
            "events.pipelines[0].batch.wait",
            "duration such as 500ms, 30s",
        ),
        (
            {
                "pipelines": [
                    {"on": "a", "model": "m", "prompt": "p", "batch": {"size": 5, "wait": 1, "x": 1}}
                ]
            },
            "events.pipelines[0].batch.x",
            "unknown key",
        ),
        (
            {"pipelines": [{"on": "stream.window", "model": "m", "prompt": "p", "window": {}}]},
            "events.pipelines[0].window",
            "give chars, sentences: true, or both",
        ),
        (
            {"pipelines": [{"on": "stream.window", "model": "m", "prompt": "p", "window": {"chars": 0}}]},
            "events.pipelines[0].window.chars",
            "greater than or equal to 1",
        ),
        (
            {
                "pipelines": [
                    {"on": "a", "model": "m", "prompt": "p"},
                    {"on": "a", "model": "n", "prompt": "q"},
                ]
            },
            "events",
            "twice",
        ),
    ],
)
def test_bad_pipelines_are_refused_naming_the_field(events: dict[str, Any], field: str, words: str) -> None:
    error = _error(events)
    assert field in str(error) and words in str(error)


def test_tools_come_only_from_the_configured_modules() -> None:
    unknown = _error(
        {"pipelines": [{"on": "a", "model": "m", "prompt": "p", "tools": ["check_policy_violations"]}]}
    )
    assert unknown.field == "events.pipelines[0].tools[0]"
    assert "no tool 'check_policy_violations'" in str(unknown)
    missing = _error({"tool_modules": ["tests.gateway._no_such_tools"], "pipelines": []})
    assert missing.field == "events.tool_modules[0]"
    assert set(load_tools(["tests.gateway._event_tools"])) == {
        "check_policy_violations",
        "lookup_account",
        "hold",
    }


def test_payloads_are_data_never_template_code() -> None:
    pipeline = Pipeline(on=("a",), model="m", prompt="Text: {{ payload.text }}")
    request = pipeline.request({"id": "1", "type": "a", "payload": {"text": "{{ 7 * 7 }} {% raw %}"}})
    assert request["messages"][0]["content"] == "Text: {{ 7 * 7 }} {% raw %}"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ payload.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ self.__init__.__globals__ }}",
        "{{ payload.update({'x': 1}) }}",
        "{{ ''.format.__self__ }}",
        "{{ (payload|attr('__class__')).__mro__ }}",
    ],
)
def test_sandbox_escapes_are_refused(source: str) -> None:
    with pytest.raises(TemplateRefused) as caught:
        PromptTemplate(source).render({"payload": {"text": "x"}, "type": "a", "id": "1", "event": {}})
    assert caught.value.field == "prompt"


def test_a_missing_field_is_an_error_not_empty_text() -> None:
    with pytest.raises(TemplateRefused, match="text"):
        Pipeline(on=("a",), model="m", prompt="{{ payload.text }}").request({"type": "a", "payload": {}})


def test_the_python_api_checks_its_arguments() -> None:
    with pytest.raises(UserError) as caught:
        Pipeline(on=("a",), model="m", prompt="p", priority="urgent")  # type: ignore[arg-type]
    assert caught.value.field == "priority"
    with pytest.raises(UserError, match="twice"):
        Pipelines([Pipeline(on=("a",), model="m", prompt="p"), Pipeline(on=("a",), model="n", prompt="q")])
    pipeline = Pipeline(on=("a",), model="m", prompt="p", tools=(_event_tools.check_policy_violations,))
    assert pipeline.registry.names == ["check_policy_violations"]


def test_an_unquoted_yaml_on_key_is_the_pipelines_on(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "models: [{name: '*', deployments: [{provider: simulator}]}]\n"
        "events:\n  pipelines:\n    - on: content.submitted\n      model: m\n      prompt: p\n"
    )
    (pipeline,) = Pipelines.from_config(load_config(path).events)
    assert pipeline.on == ("content.submitted",)


def test_batch_and_stream_options_from_config_and_python() -> None:
    (batched, windows) = _events(
        {
            "pipelines": [
                {"name": "b", "on": "a", "model": "m", "prompt": "p", "batch": {"size": 50, "wait": "500ms"}},
                {
                    "name": "w",
                    "on": "stream.*",
                    "model": "m",
                    "prompt": "p",
                    "window": {"sentences": True},
                    "streams": {"models": ["claude-*"], "keys": ["key_1"]},
                },
            ]
        }
    )
    assert batched.batch == Batching(50, 0.5) and batched.stream_window is None
    assert windows.stream_window == StreamWindow(None, True)
    assert windows.observes("claude-haiku-4-5", "key_1") and not windows.observes("gpt-4o", "key_1")
    assert not windows.observes("claude-haiku-4-5", "key_2") and not windows.observes("claude-x", None)
    assert Pipeline(on=("stream.window",), model="m", prompt="p").stream_window == StreamWindow(1000, False)
    for wait, seconds in (("2m", 120.0), ("1h", 3600.0), (0.25, 0.25), ("30s", 30.0)):
        assert _events(
            {"pipelines": [{"on": "a", "model": "m", "prompt": "p", "batch": {"size": 1, "wait": wait}}]}
        ).get("a").batch == Batching(1, seconds)  # type: ignore[union-attr]
    with pytest.raises(UserError) as caught:
        Batching(0, 1.0)
    assert caught.value.field == "batch.size"
    with pytest.raises(UserError) as caught:
        Batching(3, 0.0)
    assert caught.value.field == "batch.wait"
    with pytest.raises(UserError) as caught:
        StreamWindow(None, False)
    assert caught.value.field == "window"
