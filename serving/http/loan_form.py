"""The loan officer's web form at /ui, rendered on the server from the data contract.

Fields, choices, limits and the prefilled example come from `credit_risk.contract` (the
`Applicant` schema, `CATEGORIES`, `EXAMPLE`), so the page cannot drift from the API. It is
rendered here rather than built in the browser from /openapi.json: that document needs an
API key when keys are configured, and its layout is BentoML's to change. The browser's
script (ui/form.js) only collects the rendered controls, calls the API and shows the answer;
below the form, the review queue (`GET /reviews`, `POST /decisions/{request_id}/review`).
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from credit_risk.contract import CATEGORIES, EXAMPLE, FIELDS, Applicant
from serving.http.routes import REVIEW, REVIEWS, UI
from serving.oversight import OVERRIDE_REASONS

UI_DIR = Path(__file__).with_name("ui")
# The page's script and style are inline and it calls this server only; no other site may
# frame it (a framed form could be overlaid to make an officer click, or read the key typed).
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _slug(name: str) -> str:
    """An HTML id for a field name ("Credit amount" -> "credit-amount")."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _attributes(values: dict[str, Any]) -> str:
    return " ".join(f'{key}="{escape(str(value))}"' for key, value in values.items())


def _select(name: str, control: dict[str, Any]) -> str:
    options = "".join(
        f'<option value="{escape(label)}"{" selected" if label == EXAMPLE[name] else ""}>'
        f"{escape(label)}</option>"
        for label in CATEGORIES[name]
    )
    return f"<select {_attributes(control)}>{options}</select>"


def number_limits(schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """HTML attributes (step, min, max) and a hint for a numeric field's JSON schema.

    HTML has no exclusive minimum: an integer's becomes the next integer, a number's the
    bound itself. The API validates either way; these guide the officer and the spinner.
    """
    high = schema["maximum"]
    if "minimum" in schema:  # inclusive (Age: 18)
        low = schema["minimum"]
        step = 1 if schema["type"] == "integer" else "any"
        return {"step": step, "min": low, "max": high}, f"{low:,} to {high:,}"
    low = schema["exclusiveMinimum"]
    if schema["type"] == "integer":
        return {"step": 1, "min": low + 1, "max": high}, f"{low + 1:,} to {high:,}"
    return {"step": "any", "min": low, "max": high}, f"more than {low:,}, at most {high:,}"


def _field(name: str, schema: dict[str, Any]) -> str:
    slug = _slug(name)
    control = {
        "id": f"field-{slug}",
        "name": name,
        "data-field": "",
        "aria-describedby": f"hint-{slug} error-{slug}",
    }
    hint = schema.get("description", "")
    if name in CATEGORIES:
        html = _select(name, control)
    else:
        attributes, limits = number_limits(schema)
        attributes = {**control, **attributes, "value": EXAMPLE[name]}
        html = f'<input type="number" {_attributes(attributes)}>'
        hint = f"{hint}, {limits}" if hint else limits
    return (
        f'<div class="field">'
        f'<label for="field-{slug}">{escape(name)}</label>{html}'
        f'<small class="hint" id="hint-{slug}">{escape(hint)}</small>'
        f'<span class="field-error" id="error-{slug}"></span>'
        f"</div>"
    )


def render_page(api_route: str) -> str:
    """The whole page; its stylesheet and script are inlined, so /ui is its only path."""
    properties = Applicant.model_json_schema()["properties"]
    template = Template((UI_DIR / "index.html").read_text(encoding="utf-8"))
    reasons = "".join(
        f'<option value="{escape(code)}">{escape(text)}</option>'
        for code, text in OVERRIDE_REASONS.items()
    )
    return template.substitute(
        api_route=escape(api_route),
        reviews_route=escape(REVIEWS),
        review_route=escape(REVIEW),
        override_reasons=reasons,
        fields="\n".join(_field(name, properties[name]) for name in FIELDS),
        style=(UI_DIR / "form.css").read_text(encoding="utf-8"),
        script=(UI_DIR / "form.js").read_text(encoding="utf-8"),
    )


def add_loan_form(app: FastAPI, api_route: str) -> None:
    """Serve the form at `UI`, posting to `api_route`; not part of the OpenAPI document."""
    page = render_page(api_route)

    @app.get(UI, include_in_schema=False)
    def loan_form() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)
