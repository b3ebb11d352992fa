"""Console sessions end: at logout, when their operator token leaves `OPERATOR_TOKENS`, and a login form's
cookie is never a session. Guessing is throttled: a client's sixth failed login within a minute is a 429."""

import httpx

from api.web.session import CODEC_COOKIE, CODEC_PATH, LOGIN_COOKIE, SESSION_COOKIE
from stack.settings import Settings
from tests.conftest import open_api
from tests.web.test_console_pages import _csrf, login

WEB_UI = {"Origin": "http://localhost:8233", "X-Namespace": "default"}
ANOTHER_TOKEN = "another-operator-token-of-32-characters-or-more"


def _browser(web: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client as a browser: cookies only, no operator token."""
    web.headers.pop("Authorization", None)
    return web


def _replay(web: httpx.AsyncClient, session: str, codec: str) -> None:
    _browser(web).cookies.clear()
    web.cookies.set(SESSION_COOKIE, session, path="/ops")
    web.cookies.set(CODEC_COOKIE, codec, path=CODEC_PATH)


async def _refused(web: httpx.AsyncClient) -> None:
    for path in ("/ops", "/ops/orders"):
        page = await web.get(path)
        assert page.status_code == 303 and page.headers["location"].startswith("/ops/login"), path
    decoded = await web.post("/codec/decode", json={"payloads": []}, headers=WEB_UI)
    assert decoded.status_code == 401 and decoded.json()["error"] == "unauthorized"


async def test_a_session_replayed_after_logout_is_refused_on_the_console_and_the_codec(
    web: httpx.AsyncClient,
) -> None:
    await login(_browser(web))
    session, codec = web.cookies[SESSION_COOKIE], web.cookies[CODEC_COOKIE]
    assert (await web.post("/codec/decode", json={"payloads": []}, headers=WEB_UI)).status_code == 200
    page = await web.get("/ops")
    assert (await web.post("/ops/logout", data={"csrf": _csrf(page.text)})).status_code == 303

    _replay(web, session, codec)  # the cookies an attacker copied before the logout

    await _refused(web)


async def test_a_session_ends_when_its_token_leaves_operator_tokens(
    web: httpx.AsyncClient, web_settings: Settings
) -> None:
    await login(web)
    session, codec = web.cookies[SESSION_COOKIE], web.cookies[CODEC_COOKIE]
    added = web_settings.model_copy(update={"operator_tokens": [*web_settings.operator_tokens, ANOTHER_TOKEN]})
    rotated = web_settings.model_copy(update={"operator_tokens": [ANOTHER_TOKEN]})

    async for restarted in open_api(added):  # a restart that keeps the token keeps the session
        _replay(restarted, session, codec)
        assert (await restarted.get("/ops")).status_code == 200

    async for restarted in open_api(rotated):  # the API restarted without it (sharing the database)
        _replay(restarted, session, codec)
        await _refused(restarted)


async def test_a_login_forms_cookie_is_not_a_session(web: httpx.AsyncClient) -> None:
    await web.get("/ops/login")
    pre_login = web.cookies[LOGIN_COOKIE]

    _replay(web, pre_login, pre_login)

    await _refused(web)


async def test_the_sixth_failed_login_in_a_minute_is_throttled_with_a_clear_message(web: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await login(web, "a-wrong-guess")).status_code == 401

    throttled = await login(web, "a-wrong-guess")

    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert "Too many failed logins" in throttled.text
    # the right token waits too: the throttle is on the client, so guessing cannot go on around it
    assert (await login(web)).status_code == 429
