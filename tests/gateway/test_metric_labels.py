"""Metric series stay bounded however many model names clients make up."""

from __future__ import annotations

import re

from tests.gateway import _wire
from tests.gateway.conftest import serve, simulator_route

ASK = {"max_tokens": 8, "messages": [{"role": "user", "content": "label"}]}


def series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_five_thousand_client_chosen_names_keep_the_series_count_fixed() -> None:
    config = {"models": [simulator_route("claude-sonnet-5"), simulator_route("*")]}
    with serve(config) as live:
        base = live.base_url
        for name in ("claude-sonnet-5", "junk-0", "claude-haiku-4-5"):
            _wire.messages(base, {**ASK, "model": name})
        _wire.metrics(base)  # the scrape counts itself: its series exist from here on
        before = _wire.metrics(base)
        for index in range(1, 5000):
            reply = _wire.messages(base, {**ASK, "model": f"junk-{index}"})
            assert reply.status == 404  # the simulator behind "*" knows no such model
        after = _wire.metrics(base)
        assert series(after) == series(before)
        assert len(after) < 2 * len(before)
        # Known names keep their own label; the made-up ones are counted together.
        assert _wire.metric(after, "claudegate_requests_total", model="claude-sonnet-5", status="200") == 1
        assert _wire.metric(after, "claudegate_requests_total", model="claude-haiku-4-5", status="200") == 1
        assert _wire.metric(after, "claudegate_requests_total", model="other", status="404") == 5000
        assert not re.search(r'model="junk-', after)
