from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from claudegate.client import ApiKey, AsyncClient, load_secrets_file, resolve_api_key
from claudegate.errors import UserError

KEY = "sk-ant-api03-secretvalue-1234567890"


def test_key_never_shows_itself(caplog: pytest.LogCaptureFixture) -> None:
    key = ApiKey(KEY)
    shown = [repr(key), str(key), f"{key}", f"{key!r}", " ".join([str(key)])]
    assert all(KEY not in text for text in shown)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("key=%s", key)
    assert KEY not in caplog.text
    assert key.reveal() == KEY
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_client_repr_hides_the_key() -> None:
    client = AsyncClient(api_key=KEY, base_url="http://127.0.0.1:9")
    assert KEY not in repr(client)
    assert KEY not in repr(client.api_key)


@pytest.mark.parametrize(
    "bad",
    [
        "sk-ant with space-12345",
        "sk-ant-123456\n",
        "sk-ant\n123456",
        '"sk-ant-12345678"',
        "'sk-ant-12345678'",
        "sk-ant\\12345678",
        "sk-ant\t12345678",
        "sk-ant-é12345678",
        "k" * 513,
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(UserError) as info:
        ApiKey(bad)
    assert info.value.field == "api_key"
    assert bad.strip() not in str(info.value)
    assert bad.strip("\"'\n") not in str(info.value)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(UserError) as info:
        ApiKey("")
    assert info.value.field == "api_key"


@pytest.mark.parametrize("placeholder", ["any", "sk-1", "x", "EMPTY", "k" * 512])
def test_short_placeholder_keys_that_local_servers_accept_are_allowed(placeholder: str) -> None:
    key = ApiKey(placeholder)
    assert key.reveal() == placeholder
    assert placeholder not in repr(key) and placeholder not in str(key) and placeholder not in f"{key}"


def test_a_short_key_is_not_shown_by_a_client_either() -> None:
    client = AsyncClient(api_key="sk-1", base_url="http://127.0.0.1:9")
    assert "sk-1" not in repr(client)
    assert "sk-1" not in repr(client.api_key)


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "-secrets.sh").write_text(
        "# comment\nexport ANTHROPIC_API_KEY='sk-from-file-0001'\nOTHER=x # trailing\n"
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CLAUDEGATE_SECRETS_FILE", raising=False)
    found = resolve_api_key(None, cwd=nested)
    assert found is not None and found.reveal() == "sk-from-file-0001"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env-00001")
    found = resolve_api_key(None, cwd=nested)
    assert found is not None and found.reveal() == "sk-from-env-00001"
    found = resolve_api_key("sk-from-arg-00001", cwd=nested)
    assert found is not None and found.reveal() == "sk-from-arg-00001"


def test_secrets_file_parsing(tmp_path: Path) -> None:
    path = tmp_path / "s.sh"
    path.write_text('A=1\nexport B="two words"\n  C = 3 # note\nnot a line\n#D=4\n')
    assert load_secrets_file(path) == {"A": "1", "B": "two words", "C": "3"}


def test_missing_key_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("CLAUDEGATE_SECRETS_FILE", str(tmp_path / "none.sh"))
    with pytest.raises(UserError, match="no API key"):
        AsyncClient(base_url="http://127.0.0.1:9")
