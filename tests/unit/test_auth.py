from api.auth import operator_token_valid
from stack.settings import Settings


def test_operator_tokens_come_from_a_comma_separated_list_and_any_of_them_is_valid() -> None:
    settings = Settings(operator_tokens="old-token, new-token")

    assert settings.operator_tokens == ["old-token", "new-token"]
    assert operator_token_valid(settings, "old-token")
    assert operator_token_valid(settings, "new-token")


def test_a_missing_empty_or_unknown_token_is_not_valid() -> None:
    settings = Settings(operator_tokens=["secret"])

    assert not operator_token_valid(settings, None)
    assert not operator_token_valid(settings, "")
    assert not operator_token_valid(settings, "secret ")
    assert not operator_token_valid(Settings(operator_tokens=[]), "secret")


def test_token_mode_is_the_default() -> None:
    assert Settings().auth_mode == "token"
