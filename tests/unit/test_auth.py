from api.auth import operator_token_valid
from stack.settings import Settings

OLD, NEW = "an-old-operator-token-of-32-characters", "a-new-operator-token-of-32-characters"
SECRET = "a-secret-operator-token-of-32-characters"


def test_operator_tokens_come_from_a_comma_separated_list_and_any_of_them_is_valid() -> None:
    settings = Settings(operator_tokens=f"{OLD}, {NEW}")

    assert settings.operator_tokens == [OLD, NEW]
    assert operator_token_valid(settings, OLD)
    assert operator_token_valid(settings, NEW)


def test_a_missing_empty_or_unknown_token_is_not_valid() -> None:
    settings = Settings(operator_tokens=[SECRET])

    assert not operator_token_valid(settings, None)
    assert not operator_token_valid(settings, "")
    assert not operator_token_valid(settings, SECRET + " ")
    assert not operator_token_valid(Settings(operator_tokens=[]), SECRET)


def test_token_mode_is_the_default() -> None:
    assert Settings().auth_mode == "token"
