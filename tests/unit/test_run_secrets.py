"""`make run`'s secrets: generated once into files under .data/ when not configured, and passed to the children."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from stack.codec import PayloadKey, payload_keys
from stack.run import LOCAL_PAYLOAD_KEY_ID, prepare_secrets
from stack.settings import Settings

FILES = ("operator-token", "app-secret", "payload-key")
ROOT = Path(__file__).resolve().parents[2]
MINE = "a-configured-operator-token-of-the-deployer"


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_unset_secrets_are_generated_once_into_owner_only_files(tmp_path: Path) -> None:
    settings, env = _settings(), dict[str, str]()
    notes = prepare_secrets(settings, env, tmp_path)

    token, secret, key_secret = ((tmp_path / name).read_text().strip() for name in FILES)
    keys = str(PayloadKey.from_secret(LOCAL_PAYLOAD_KEY_ID, key_secret))
    assert env == {"OPERATOR_TOKENS": token, "APP_SECRET": secret, "PAYLOAD_KEYS": keys}
    assert settings.operator_tokens == [token] and settings.require_app_secret() == secret.encode()
    assert [key.key_id for key in payload_keys(settings)] == [LOCAL_PAYLOAD_KEY_ID]
    for name in FILES:
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert any(token in note for note in notes)  # printed with the URLs
    assert not any(secret in note or key_secret in note for note in notes)

    again, again_env = _settings(), dict[str, str]()
    prepare_secrets(again, again_env, tmp_path)
    assert again_env == env  # the next `make run` reuses them


def test_configured_secrets_are_kept_and_never_printed(tmp_path: Path) -> None:
    keys = str(PayloadKey.generate("ops"))
    settings = _settings(operator_tokens=f"{MINE}-1,{MINE}-2", app_secret=SecretStr("configured"), payload_keys=keys)
    env: dict[str, str] = {}
    notes = prepare_secrets(settings, env, tmp_path)

    assert env == {} and list(tmp_path.iterdir()) == []
    assert settings.operator_tokens == [f"{MINE}-1", f"{MINE}-2"]
    assert [key.key_id for key in payload_keys(settings)] == ["ops"]
    assert not any(MINE in note or keys in note or "configured" in note for note in notes)


def test_open_mode_warns_and_generates_no_token(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    notes = prepare_secrets(_settings(auth_mode="open"), env, tmp_path)

    assert "OPERATOR_TOKENS" not in env and not (tmp_path / "operator-token").exists()
    assert [note for note in notes if note.startswith("WARNING: AUTH_MODE=open")]


def test_make_run_refuses_an_operator_token_shorter_than_32_characters(tmp_path: Path) -> None:
    """The check is the settings': the API, the worker and `make run` all refuse to start with such a token."""
    long_enough = "x" * 32
    env = {**os.environ, "OPERATOR_TOKENS": f"{long_enough},short-guessable", "DATA_DIR": str(tmp_path)}

    run = subprocess.run(
        [sys.executable, "-m", "stack.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 2, run.stdout + run.stderr
    assert "OPERATOR_TOKENS" in run.stdout and "at least 32 characters" in run.stdout, run.stdout + run.stderr
    assert "short-guessable" not in run.stdout + run.stderr  # a configured token is never printed
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything started
    assert Settings(operator_tokens=long_enough).operator_tokens == [long_enough]
