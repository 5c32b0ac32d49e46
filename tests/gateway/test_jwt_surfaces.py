"""JWT principals on the surfaces that keep state per caller: ``POST /v1/responses`` (the
``openai`` SDK; stored responses belong to the subject) and message threads (the ``anthropic``
SDK; a thread belongs to the subject that created it). A token is admitted, a bad one refused in
the OpenAI envelope, another subject learns nothing of a caller's responses or threads, and the
ledger rows carry the subject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from claudegate.translate.threads import THREADS_BETA
from tests.gateway import _ledger
from tests.gateway._idp import IdentityProvider, claims, ec_key, rsa_key
from tests.gateway.test_jwt import Gateway, running

MODEL = "claude-sonnet-5"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    idp = IdentityProvider()
    idp.add(rsa_key("rsa-1"))
    idp.add(ec_key("ec-1"))
    with running(tmp_path, idp) as running_gateway:
        yield running_gateway


def gpt(gateway: Gateway, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0)


def claude(gateway: Gateway, token: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, auth_token=token, max_retries=0)


def test_responses_admit_a_token_refuse_a_bad_one_and_belong_to_the_subject(gateway: Gateway) -> None:
    idp = gateway.idp
    alice, bob = idp.token("rsa-1", claims("resp-alice")), idp.token("ec-1", claims("resp-bob"))
    expired = idp.token("rsa-1", claims("resp-alice", exp=1_000_000, iat=999_000))
    wrong_audience = idp.token("rsa-1", {**claims("resp-alice"), "aud": "elsewhere"})
    with gpt(gateway, alice) as owner, gpt(gateway, bob) as other:
        first = owner.responses.create(model=MODEL, input="Remember the number 7.")
        second = owner.responses.create(model=MODEL, input="Which number?", previous_response_id=first.id)
        with pytest.raises(openai.NotFoundError) as not_found:
            other.responses.create(model=MODEL, input="Go on.", previous_response_id=first.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(first.id)
    refusals = {}
    for case, token in {"expired": expired, "audience": wrong_audience}.items():
        with gpt(gateway, token) as refused_client, pytest.raises(openai.AuthenticationError) as refused:
            refused_client.responses.create(model=MODEL, input="hi")
        refusals[case] = refused.value
    assert first.status == "completed" and first.output_text
    assert second.previous_response_id == first.id and second.status == "completed"
    body: Any = not_found.value.body
    assert body["param"] == "previous_response_id"
    expired_body: Any = refusals["expired"].body
    audience_body: Any = refusals["audience"].body
    assert refusals["expired"].status_code == 401 and expired_body["type"] == "authentication_error"
    assert expired_body["message"] == "invalid JWT: the token has expired"
    assert audience_body["message"] == "invalid JWT: audience (aud) is not accepted"


def test_ledger_rows_of_responses_carry_the_subject(tmp_path: Path) -> None:
    idp = IdentityProvider()
    idp.add(rsa_key("k1"))
    with running(tmp_path, idp) as gateway:
        with gpt(gateway, idp.token("k1", claims("ledger-resp"))) as client:
            response = client.responses.create(model=MODEL, input="Count me.")
    [row] = _ledger.rows(tmp_path / "gateway.db")
    assert (row["key_id"], row["dialect"], row["status"]) == ("jwt:ledger-resp", "openai", 200)
    assert response.usage is not None and row["output_tokens"] == response.usage.output_tokens


def continue_from(client: anthropic.Anthropic, message_id: str) -> Any:
    return client.beta.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=[{"role": "user", "content": "And then?"}],
        thread={"type": "continue", "previous_message_id": message_id},
        betas=[THREADS_BETA],
    )


def test_a_thread_is_continued_by_its_subject_and_not_found_for_another(gateway: Gateway) -> None:
    idp = gateway.idp
    with (
        claude(gateway, idp.token("rsa-1", claims("thread-alice"))) as alice,
        claude(gateway, idp.token("ec-1", claims("thread-bob"))) as bob,
    ):
        first = alice.beta.messages.create(
            model=MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": "Start a story."}],
            thread={"type": "create"},
            betas=[THREADS_BETA],
        )
        with pytest.raises(anthropic.NotFoundError) as refused:
            continue_from(bob, first.id)
        mine = continue_from(alice, first.id)
    assert refused.value.error_code == "thread_not_found"  # as if it did not exist: bob learns nothing
    assert mine.stop_reason == "end_turn" and mine.content
