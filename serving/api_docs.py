"""The documented HTTP surface around BentoML: /openapi.json, /docs, /redoc, / → /docs."""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles

TITLE = "Credit Score Prediction API"
VERSION = "1.0.0"
DESCRIPTION = "API to predict the credit risk of a customer using a deep learning model"
OPENAPI_URL = "/openapi.json"
# BentoML serves its own, different document here; the mounted app's route wins.
BENTOML_OPENAPI_URL = "/docs.json"
ASSETS_URL = "/docs-assets"
FAVICON = "swagger-ui-dist/favicon-32x32.png"  # in the assets directory


def _assets_dir() -> Path:
    """Swagger UI and ReDoc bundles from the drf-spectacular-sidecar package.

    Served locally because clients may have no internet. The package's __init__ imports
    Django, so the directory is located without importing it.
    """
    spec = find_spec("drf_spectacular_sidecar")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("drf-spectacular-sidecar is not installed")
    return Path(spec.submodule_search_locations[0]) / "static" / "drf_spectacular_sidecar"


def documented_openapi(
    spec: dict[str, Any], api_routes: list[str], query: type[BaseModel]
) -> dict[str, Any]:
    """BentoML's OpenAPI document with the documented info, 422 for invalid input and the
    query parameters of `query` (which BentoML does not see)."""
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": schema.get("description", ""),
            "schema": {k: v for k, v in schema.items() if k not in ("title", "description")},
        }
        for name, schema in query.model_json_schema()["properties"].items()
    ]
    # The schemas are pydantic's JSON Schema 2020-12 (e.g. numeric exclusiveMinimum), which
    # is OpenAPI 3.1, not the 3.0.2 that BentoML labels them with.
    spec["openapi"] = "3.1.0"
    spec["info"] = {"title": TITLE, "version": VERSION, "description": DESCRIPTION}
    for route in api_routes:
        operation = spec["paths"][route]["post"]
        operation["requestBody"]["required"] = True
        responses = operation["responses"]
        responses[422] = {
            "description": "Validation error: the body does not follow the schema",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}}
            },
        }
        responses.pop(400)  # BentoML documents its own status; ours is 422
        operation["parameters"] = parameters
    spec.setdefault("components", {}).setdefault("schemas", {})["ValidationErrorBody"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "array", "items": {"type": "object"}},
        },
    }
    return spec


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
    app.mount(ASSETS_URL, StaticFiles(directory=_assets_dir()), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get(OPENAPI_URL, include_in_schema=False)
    @app.get(BENTOML_OPENAPI_URL, include_in_schema=False)
    def openapi_document() -> dict[str, Any]:
        """One document at both paths, so no client reads BentoML's undocumented one."""
        return openapi()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(_assets_dir() / FAVICON)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Any:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{TITLE} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Any:
        return get_redoc_html(
            openapi_url=OPENAPI_URL,
            title=f"{TITLE} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc/bundles/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )

    return app
