"""The web pages served by the API: the storefront at `/` and the operator console at `/ops`."""

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.web import ops, shop
from api.web.pages import HERE, SECURITY_HEADERS


class _Static(StaticFiles):
    """The pages' script and stylesheet, with the pages' security headers (nosniff matters most here)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install(app: FastAPI) -> None:
    app.include_router(shop.router)
    app.include_router(ops.router)
    app.mount("/static", _Static(directory=HERE / "static"), name="static")
