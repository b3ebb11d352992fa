"""`make run`'s payment provider: the embedded localstripe unless a provider is configured."""

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from stack.run import prepare_provider
from stack.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, api_host="0.0.0.0", api_port=8123, localstripe_port=8777, **values)  # type: ignore[arg-type]


def test_unconfigured_the_embedded_localstripe_is_started_and_told_to_the_children(tmp_path: Path) -> None:
    settings, env = _settings(), dict[str, str]()
    command, notes = prepare_provider(settings, env, tmp_path)

    secret = (tmp_path / "stripe-webhook-secret").read_text().strip()
    assert secret.startswith("whsec_") and stat.S_IMODE((tmp_path / "stripe-webhook-secret").stat().st_mode) == 0o600
    assert env == {
        "STRIPE_API_BASE": "http://127.0.0.1:8777",
        "STRIPE_API_KEY": "sk_test_localstripe",
        "STRIPE_WEBHOOK_SECRET": secret,
    }
    assert command is not None and command[command.index("--port") + 1] == "8777"
    assert command[command.index("--state") + 1] == str(tmp_path / "localstripe.pickle")
    assert command[command.index("--webhook-url") + 1] == "http://127.0.0.1:8123/api/webhooks/stripe"
    assert secret not in " ".join(command)  # in the environment, never on a command line
    assert any("localstripe at http://127.0.0.1:8777" in note for note in notes)
    assert not any(secret in note for note in notes)

    again_env: dict[str, str] = {}
    prepare_provider(_settings(), again_env, tmp_path)
    assert again_env == env  # the next `make run` signs with the same secret


def test_a_configured_webhook_secret_is_used_and_no_file_written(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    command, _ = prepare_provider(_settings(stripe_webhook_secret=SecretStr("whsec_mine")), env, tmp_path)

    assert command is not None and "STRIPE_WEBHOOK_SECRET" not in env  # the children inherit it from make run's
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("configured", "where"),
    [
        ({"stripe_api_key": SecretStr("sk_test_real")}, "Stripe"),
        ({"stripe_api_base": "http://127.0.0.1:12111"}, "the Stripe-compatible server at http://127.0.0.1:12111"),
    ],
)
def test_a_configured_provider_is_used_as_it_is(tmp_path: Path, configured: dict[str, object], where: str) -> None:
    env: dict[str, str] = {}
    command, notes = prepare_provider(_settings(**configured), env, tmp_path)

    assert command is None and env == {} and list(tmp_path.iterdir()) == []
    assert notes[0].startswith(f"Payments:      {where} ")
    assert any(note.startswith("WARNING: STRIPE_WEBHOOK_SECRET is unset") for note in notes)
