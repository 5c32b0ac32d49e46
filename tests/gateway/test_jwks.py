"""The JWT verifier and its key set on their own, with an injected clock: refetches rate-limited,
``Cache-Control`` honoured within bounds, concurrent callers sharing one fetch, a provider that
hangs costing one timeout, verified tokens remembered until they expire, and a configured public
key read from the environment."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from claudegate.gateway._config import ConfigError, JwtConfig, parse_config
from claudegate.gateway.core._errors import GatewayError
from claudegate.gateway.core._jwks import JwksCache, KeysUnavailable
from claudegate.gateway.core._jwt import JwtVerifier
from claudegate.testing import LiveServer
from tests.gateway._idp import AUDIENCE, ISSUER, IdentityProvider, claims, ec_key, rsa_key
from tests.gateway._ws import FakeClock
from tests.gateway.conftest import simulator_route

ALGORITHMS = ("RS256", "ES256", "EdDSA")


@pytest.fixture
def idp() -> Iterator[tuple[IdentityProvider, str]]:
    provider = IdentityProvider()
    provider.add(rsa_key("k1"))
    with LiveServer(provider) as server:
        yield provider, server.base_url + "/jwks.json"


async def test_an_unknown_kid_refetches_at_most_once_per_interval(idp: tuple[IdentityProvider, str]) -> None:
    provider, url = idp
    clock = FakeClock()
    cache = JwksCache(url, algorithms=ALGORITHMS, refetch_interval=30, max_age=600, clock=clock)
    assert [key.kid for key in await cache.keys("k1")] == ["k1"]
    assert await cache.keys("k2") == () and await cache.keys("k2") == ()
    assert provider.fetches == 1  # the first fetch was a moment ago: no second one yet
    provider.add(ec_key("k2"))
    clock.now += 29
    assert await cache.keys("k2") == ()
    clock.now += 2
    assert [key.kid for key in await cache.keys("k2")] == ["k2"]
    assert provider.fetches == 2


@pytest.mark.parametrize(
    ("cache_control", "fresh_for"),
    [("max-age=120", 120), ("public, max-age=5", 30), ("max-age=999999", 600), ("no-store", 30), ("", 600)],
)
async def test_cache_control_sets_the_key_set_lifetime_within_bounds(
    idp: tuple[IdentityProvider, str], cache_control: str, fresh_for: float
) -> None:
    provider, url = idp
    provider.cache_control = cache_control
    clock = FakeClock()
    cache = JwksCache(url, algorithms=ALGORITHMS, refetch_interval=30, max_age=600, clock=clock)
    await cache.keys("k1")
    clock.now += fresh_for - 1
    await cache.keys("k1")
    assert provider.fetches == 1
    clock.now += 2
    await cache.keys("k1")
    assert provider.fetches == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    calls = 0
    release = asyncio.Event()

    async def fetch(url: str, timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        nonlocal calls
        calls += 1
        await release.wait()
        return 200, {}, IdentityProvider.key_set_bytes([rsa_key("k1")])

    cache = JwksCache("https://idp.test/jwks", algorithms=ALGORITHMS, fetch=fetch)
    first = asyncio.ensure_future(cache.keys("k1"))
    while calls == 0:  # the fetch is under way before the others arrive
        await asyncio.sleep(0)
    waiting = [first, *(asyncio.ensure_future(cache.keys("k1")) for _ in range(19))]
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    found = await asyncio.gather(*waiting)
    assert calls == 1 and all(len(keys) == 1 for keys in found)


async def test_a_provider_that_hangs_costs_one_timeout_then_a_retry_later() -> None:
    async def hang(url: str, timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    clock = FakeClock()
    cache = JwksCache(
        "https://idp.test/jwks",
        algorithms=ALGORITHMS,
        timeout=0.05,
        refetch_interval=30,
        clock=clock,
        fetch=hang,
    )
    with pytest.raises(KeysUnavailable) as first:
        await cache.keys("k1")
    with pytest.raises(KeysUnavailable) as second:  # no new attempt within the interval: at once
        await cache.keys("k1")
    assert first.value.retry_after == 30 and second.value.retry_after == 30
    assert cache.fetches == 1


def verifier_config(**fields: Any) -> JwtConfig:
    auth = {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, **fields}}
    config = parse_config({"models": [simulator_route()], "auth": auth})
    assert config.auth is not None and config.auth.jwt is not None
    return config.auth.jwt


async def test_a_verified_token_is_remembered_until_it_expires(
    idp: tuple[IdentityProvider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, url = idp
    clock = FakeClock()
    clock.now = 1_000_000.0
    verifier = JwtVerifier.from_config(verifier_config(jwks_url=url, leeway=10), clock=clock)
    token = provider.token("k1", claims("dave", iat=1_000_000, exp=1_000_100))
    first = await verifier.principal(token)
    monkeypatch.setattr(verifier, "_verified", None)  # a second verification would fail loudly
    again = await verifier.principal(token)
    assert first is again and first.owner == "jwt:dave"
    monkeypatch.undo()
    clock.now = 1_000_109.0  # within the leeway
    assert (await verifier.principal(token)).subject == "dave"
    clock.now = 1_000_110.0
    with pytest.raises(GatewayError) as expired:
        await verifier.principal(token)
    assert expired.value.status == 401 and "expired" in expired.value.message


async def test_a_public_key_from_the_environment_verifies_without_any_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = IdentityProvider()
    key = provider.add(ec_key("any"))
    monkeypatch.setenv("CG_TEST_JWT_PUBLIC_KEY", key.public_pem().decode())
    verifier = JwtVerifier.from_config(verifier_config(public_key="env:CG_TEST_JWT_PUBLIC_KEY"))
    principal = await verifier.principal(provider.token("any", claims("erin", cg_models="claude-opus-5")))
    assert principal.subject == "erin" and principal.may_use("claude-opus-5")
    assert not principal.may_use("claude-sonnet-5")
    monkeypatch.setenv("CG_TEST_JWT_PUBLIC_KEY", "not a key")
    with pytest.raises(ConfigError) as bad:
        JwtVerifier.from_config(verifier_config(public_key="env:CG_TEST_JWT_PUBLIC_KEY"))
    assert bad.value.field == "auth.jwt.public_key"


@pytest.mark.parametrize(
    ("jwt", "message"),
    [
        ({}, "set exactly one of 'jwks_url' and 'public_key'"),
        ({"jwks_url": "https://a/", "public_key": "env:X"}, "set exactly one"),
        ({"jwks_url": "ftp://a/"}, "auth.jwt.jwks_url: must be an http"),
        ({"public_key": "-----BEGIN PUBLIC KEY-----"}, "auth.jwt.public_key: must name where"),
        ({"jwks_url": "https://a/", "algorithms": ["HS256"]}, "auth.jwt.algorithms[0]"),
    ],
)
def test_configuration_errors_name_the_key(jwt: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as bad:
        verifier_config(**jwt)
    assert message in str(bad.value)
