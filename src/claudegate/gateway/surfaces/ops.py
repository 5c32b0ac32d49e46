"""Operational endpoints: ``/health``, ``/ready``, ``/metrics``, ``/health/deployments``, ``HEAD /``."""

from __future__ import annotations

from typing import Any

import orjson

from claudegate.gateway._http import Exchange
from claudegate.gateway.core import GatewayCore, GatewayError

__all__ = ["health", "health_deployments", "metrics", "ready", "root"]

_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_PROMETHEUS = (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")


async def health(core: GatewayCore, exchange: Exchange) -> None:
    await exchange.send_bytes(200, b'{"status":"ok"}')


def _config_state(core: GatewayCore) -> dict[str, Any] | None:
    """What ``/ready`` says of the configuration: the last reload, and a refused one's error."""
    if core.reloaded_at is None and core.reload_error is None:
        return None
    return {"reloaded_at": core.reloaded_at, "reload_error": core.reload_error}


async def _operator(core: GatewayCore, exchange: Exchange) -> bool:
    try:
        await core.check_operator(exchange.credential())
    except GatewayError:
        return False
    return True


async def ready(core: GatewayCore, exchange: Exchange) -> None:
    """200 when serving; 503 while starting, or when shared counters are down under fail_closed.

    Anyone may ask (load balancers do); what is wrong is told only to operators (``auth.operations``).
    """
    if not core.ready:
        await exchange.send_bytes(503, b'{"status":"starting"}')
        return
    body: dict[str, Any] = {"status": "ready"}
    status = 200
    if core.policies is not None:
        counters = await core.policies.health()
        if not counters.ok:
            closed = counters.policy is None or counters.policy.value == "fail_closed"
            status = 503 if closed else 200
            body["status"] = "unavailable" if closed else "degraded"
            body["counters"] = {
                "backend": counters.backend,
                "ok": False,
                "policy": counters.policy,
                "detail": counters.detail,
            }
    config = _config_state(core)
    if config is not None:
        body["config"] = config
    if len(body) > 1 and not await _operator(core, exchange):
        body = {"status": body["status"]}
    await exchange.send_bytes(status, orjson.dumps(body))


async def metrics(core: GatewayCore, exchange: Exchange) -> None:
    await core.metrics.refresh()
    await exchange.send_bytes(200, core.metrics.render(), _PROMETHEUS)


async def root(core: GatewayCore, exchange: Exchange) -> None:
    await exchange.send_bytes(200, b"claudegate\n" if exchange.method == "GET" else b"", _TEXT)


async def health_deployments(core: GatewayCore, exchange: Exchange) -> None:
    """Each deployment's state, breaker, last error and latency."""
    await exchange.send_bytes(200, orjson.dumps(core.runtime.resilience.snapshot()))
