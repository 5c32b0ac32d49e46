"""Usage over a recent window as time series, per key, model or deployment: what the dashboard
plots. Read from the usage rollups and their latency histograms (``claudegate.store._usage_query``)
after the rows this process has queued are written, so a call made a moment ago is in it.

Windows: the last ``hour`` per minute, the last ``day`` per hour, the last ``week`` per day (UTC
buckets; the last one is the current, partial one). The busiest groups get a series each; past
``MAX_GROUPS`` the rest are folded into one ``other`` series (their latencies merged as
histograms, not averaged).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from claudegate.gateway.core._errors import GatewayError, shown

if TYPE_CHECKING:
    from claudegate.gateway.core._policies import Policies
    from claudegate.store._usage_query import LatencyHistogram, UsageSummary

__all__ = ["GROUPINGS", "MAX_GROUPS", "METRICS", "WINDOWS", "UsageSeries", "usage_series"]

WINDOWS: dict[str, tuple[str, int, int]] = {
    "hour": ("minute", 60, 60),
    "day": ("hour", 3_600, 24),
    "week": ("day", 86_400, 7),
}
"""Each window's bucket, the bucket's size in seconds, and how many buckets it spans."""
GROUPINGS = ("key", "model", "deployment")
MAX_GROUPS = 8
OTHER = "other"
NO_KEY = "(no key)"
_SUMMED = ("requests", "input_tokens", "output_tokens", "cost_usd", "errors")
METRICS = (*_SUMMED, "latency_ms_p50", "latency_ms_p95")
"""What each series holds, per bucket: sums, and the latency percentiles (None: no call)."""


@dataclass(frozen=True, slots=True)
class UsageSeries:
    """``values[metric][g][t]``: the metric of group ``groups[g]`` in the bucket starting at
    ``times[t]`` (unix seconds); ``totals`` sums each summed metric over the window."""

    window: str
    bucket: str
    group_by: str
    times: list[int]
    groups: list[str]
    values: dict[str, list[list[float | None]]]
    totals: dict[str, float]

    def json(self) -> dict[str, Any]:
        return asdict(self)


def _label(value: Any, names: dict[str, str]) -> str:
    if value is None:
        return NO_KEY
    return names.get(value, str(value))


async def _key_names(policies: Policies, ids: list[str]) -> dict[str, str]:
    """Key ids as their names; a name two keys share is followed by the key's id."""
    if policies.keys is None:
        return {}
    found = await policies.keys.get_many([key_id for key_id in ids if key_id.startswith("key_")])
    taken: dict[str, int] = {}
    for key in found.values():
        taken[key.name] = taken.get(key.name, 0) + 1
    return {key.id: key.name if taken[key.name] == 1 else f"{key.name} ({key.id})" for key in found.values()}


async def usage_series(policies: Policies, window: str, group_by: str, now: float) -> UsageSeries:
    """The usage of every caller over ``window`` ending at ``now`` (unix seconds), per ``group_by``;
    a 400 naming a bad parameter."""
    from claudegate.store._usage_query import latency_histograms, usage_summary

    if window not in WINDOWS:
        message = f"window: {shown(window)!r} is not one of hour, day, week"
        raise GatewayError(400, "invalid_request_error", message, "window")
    if group_by not in GROUPINGS:
        message = f"group_by: {shown(group_by)!r} is not one of key, model, deployment"
        raise GatewayError(400, "invalid_request_error", message, "group_by")
    database = policies.database
    if database is None:
        raise GatewayError(404, "not_found_error", "usage needs a database (an auth or storage section)")
    if policies.writer is not None:
        await policies.writer.flush()
    bucket, size, count = WINDOWS[window]
    end = (int(now) // size + 1) * size
    times = [end - (count - index) * size for index in range(count)]
    start, stop = _moment(times[0]), _moment(end)
    summaries = await usage_summary(database, [group_by], bucket=bucket, start=start, end=stop)
    histograms = await latency_histograms(database, [group_by], bucket=bucket, start=start, end=stop)
    names = await _key_names(policies, [s.key for s in summaries if s.key]) if group_by == "key" else {}
    return _assemble(window, group_by, times, summaries, histograms, lambda value: _label(value, names))


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _assemble(
    window: str,
    group_by: str,
    times: list[int],
    summaries: list[UsageSummary],
    histograms: list[LatencyHistogram],
    label: Any,
) -> UsageSeries:
    """The series of the busiest groups (and ``other``), aligned on ``times``."""
    at = {moment: index for index, moment in enumerate(times)}
    busy: dict[str, int] = {}
    for summary in summaries:
        name = label(getattr(summary, group_by))
        busy[name] = busy.get(name, 0) + summary.requests
    ranked = sorted(busy, key=lambda name: (-busy[name], name))
    kept = ranked if len(ranked) <= MAX_GROUPS else ranked[: MAX_GROUPS - 1]
    groups = kept + ([OTHER] if len(kept) < len(ranked) else [])
    row = {name: index for index, name in enumerate(kept)}

    def slot(item: UsageSummary | LatencyHistogram) -> tuple[int, int] | None:
        moment = int(item.start.timestamp()) if item.start is not None else None
        if moment not in at:
            return None
        return row.get(label(getattr(item, group_by)), len(kept)), at[moment]

    sums = {metric: [[0.0] * len(times) for _ in groups] for metric in _SUMMED}
    for summary in summaries:
        found = slot(summary)
        if found is not None:
            group, moment = found
            for metric, value in zip(_SUMMED, _summed(summary), strict=True):
                sums[metric][group][moment] += value
    counts: list[list[list[int] | None]] = [[None] * len(times) for _ in groups]
    for histogram in histograms:
        found = slot(histogram)
        if found is not None:
            group, moment = found
            merged = counts[group][moment]
            counts[group][moment] = (
                list(histogram.counts)
                if merged is None
                else [a + b for a, b in zip(merged, histogram.counts, strict=True)]
            )
    values: dict[str, list[list[float | None]]] = {
        metric: [[round(value, 6) for value in series] for series in sums[metric]] for metric in _SUMMED
    }
    for metric, quantile in (("latency_ms_p50", 0.5), ("latency_ms_p95", 0.95)):
        values[metric] = [[_quantile(cell, quantile) for cell in series] for series in counts]
    totals = {metric: round(sum(sum(series) for series in sums[metric]), 6) for metric in _SUMMED}
    return UsageSeries(window, WINDOWS[window][0], group_by, times, groups, values, totals)


def _summed(summary: UsageSummary) -> tuple[float, ...]:
    return (
        summary.requests,
        summary.input_tokens + summary.cache_write_tokens + summary.cache_read_tokens,
        summary.output_tokens,
        summary.cost,
        summary.errors,
    )


def _quantile(counts: list[int] | None, quantile: float) -> float | None:
    from claudegate.store._usage_latency import histogram_quantile

    if counts is None:
        return None
    value = histogram_quantile(counts, quantile)
    return None if value is None else round(value, 2)
