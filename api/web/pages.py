"""What every web page shares: the templates, the security headers, and how a refusal becomes a page.

Pages are rendered on the server; the only script is static/app.js (live order page, countdown), so the CSP
allows scripts from this origin only, and nothing inline; the shop's pay page alone adds the provider's Stripe.js.
A form posted from another site is refused before its handler runs (`from_this_site`).
"""

from collections.abc import Callable, Coroutine, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from services.errors import DomainError

HERE = Path(__file__).resolve().parent

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def money(amount_minor: int, currency: str) -> str:
    """69.00 USD: every currency of the catalog has two decimals (amounts are stored in minor units)."""
    return f"{Decimal(amount_minor).scaleb(-2):,.2f} {currency}"


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["money"] = money


class Redirect(Exception):
    """Leave the page for another one (e.g. the console's login)."""

    def __init__(self, url: str) -> None:
        self.url = url


class Refused(Exception):
    """A request the page refuses as a whole (a forged form, an unknown order): an error page with a status."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        self.status_code = status_code
        self.title = title
        self.message = message


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, dict(context or {}), status_code=status_code)


def see_other(url: str) -> RedirectResponse:
    """The answer to a form that worked: the browser GETs `url` (post/redirect/get)."""
    return RedirectResponse(url, status_code=303)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def from_this_site(request: Request) -> bool:
    """Whether a form post comes from a page of this origin (CSRF protection for every page's forms).

    Browsers say where a request comes from, and no page can change what they say: `Sec-Fetch-Site` (every
    current browser) must be `same-origin`; without it, `Origin` (sent with every POST, `null` from opaque
    origins) must name this host and port, as the `Host` header does (a TLS-terminating proxy keeps the host,
    so the scheme is not compared). A request with neither is not a browser's (curl, a script with no cookies
    to abuse) and passes, as the REST API lets it. This holds for the shop's first post too, which comes before
    there is any cart cookie to bind a token to; a token in each form would also need one in every template.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host")
    return origin != "null" and host is not None and urlsplit(origin).netloc.lower() == host.lower()


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """A refusal as a page, with the pages' security headers (the edge answers some before any page route)."""
    response = render(request, "error.html", {"title": title, "message": message}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


class PageRoute(APIRoute):
    """A route of a web page: security headers on every answer, and refusals shown as pages, never as a 500.

    A domain refusal that a handler did not turn into a message next to its form becomes an error page with
    the refusal's status; an id that is not one is a 404 page, as on the JSON API. A form posted from another
    site is a 403 page, and nothing of it runs.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            response: Response
            try:
                if request.method not in SAFE_METHODS and not from_this_site(request):
                    raise Refused(
                        403,
                        "Refused",
                        "This form did not come from this site, so nothing was changed. Reload the page and send "
                        "its form again.",
                    )
                response = await handler(request)
            except Redirect as redirect:
                response = see_other(redirect.url)
            except Refused as refused:
                response = error_page(request, refused.status_code, refused.title, refused.message)
            except DomainError as error:
                response = error_page(request, error.status_code, "That did not work", error.message)
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                if tuple(first.get("loc", ()))[:1] == ("path",):
                    response = error_page(request, 404, "Not found", "There is no such page.")
                else:
                    response = error_page(request, 400, "That did not work", "The form was not filled in right.")
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)  # a page may widen its own CSP (the pay page)
            return response

        return page
