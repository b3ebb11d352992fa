import stat
from pathlib import Path

import pytest

from stack.secrets import derive_key, secret_file
from stack.settings import Settings


def test_keys_differ_by_purpose_and_by_secret_and_are_stable() -> None:
    settings = Settings(app_secret="one")

    assert derive_key(settings, "customer-ref") == derive_key(settings, "customer-ref")
    assert derive_key(settings, "customer-ref") != derive_key(settings, "idempotency")
    assert derive_key(settings, "customer-ref") != derive_key(Settings(app_secret="two"), "customer-ref")
    assert len(derive_key(settings, "customer-ref")) == 32


def test_a_missing_app_secret_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="APP_SECRET"):
        derive_key(Settings(_env_file=None), "customer-ref")


def test_a_secret_file_is_generated_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "app-secret"

    first = secret_file(path)

    assert len(first) >= 40
    assert secret_file(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
