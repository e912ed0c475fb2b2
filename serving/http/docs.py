"""The documented HTTP surface around BentoML: /openapi.json, /docs, /redoc, / → /docs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.http import routes
from serving.http.errors import error_body, error_response, validation_error_body
from serving.http.openapi import DESCRIPTION, TITLE, VERSION

# Swagger UI 5 and ReDoc 2 bundles, served locally because clients may have no internet.
# fastapi-offline ships them with nothing but FastAPI as a dependency.
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
# The pages may load from this server only: ReDoc's bundle links Redocly's logo from a CDN,
# which an offline browser would try to fetch. Their own scripts are inline; ReDoc runs
# its search in a worker made from a blob.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:"
)


def docs_app(openapi: Callable[[], dict[str, Any]]) -> FastAPI:
    """A FastAPI app, mounted at "/", serving the documentation pages offline."""
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.router.redirect_slashes = False  # "/docs/" is no page: 404, not a redirect
    # Errors of this app's routes in the service's one error shape.
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.mount(routes.DOCS_ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.add_middleware(HeadAsGet)

    @app.get(routes.ROOT, include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(routes.DOCS)

    @app.get(routes.OPENAPI, include_in_schema=False)
    @app.get(routes.BENTOML_OPENAPI, include_in_schema=False)
    def openapi_document() -> dict[str, Any]:
        """One document at both paths, so no client reads BentoML's undocumented one."""
        return openapi()

    @app.get(routes.FAVICON, include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(ASSETS_DIR / "favicon.png")

    @app.get(routes.DOCS, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _local_only(
            get_swagger_ui_html(
                openapi_url=routes.OPENAPI,
                title=f"{TITLE} - Swagger UI",
                swagger_js_url=f"{routes.DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{routes.DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=routes.FAVICON,
            )
        )

    @app.get(routes.REDOC, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _local_only(
            get_redoc_html(
                openapi_url=routes.OPENAPI,
                title=f"{TITLE} - ReDoc",
                redoc_js_url=f"{routes.DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=routes.FAVICON,
                with_google_fonts=False,
            )
        )

    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # FastAPI's 400 is a body it could not parse: invalid input, a 422 as everywhere else.
    status = 422 if exc.status_code == 400 else exc.status_code
    return error_response(status, error_body(str(exc.detail)), exc.headers)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    return error_response(422, validation_error_body(errors, len(errors)))


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["content-security-policy"] = PAGE_POLICY
    return page


class HeadAsGet:
    """HEAD on the app's GET routes (FastAPI routes answer GET only): the GET answer's
    status and headers, without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
