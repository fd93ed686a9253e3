"""The OpenAPI document and an interactive documentation page (Swagger UI served from the
installed package: no external script)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask
import swagger_ui_bundle
from flask import current_app, jsonify, render_template, send_from_directory
from flask_smorest import Blueprint

from core.permissions import public

blp = Blueprint("core_api_docs", __name__, url_prefix="/api/v1", description="API description")
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})


@blp.route("/openapi.json")
@blp.doc(security=[], responses={"200": {"description": "This document"}})
@public
def openapi_json() -> Any:
    """The OpenAPI 3.1 description of every operation (plugins' included)."""
    return jsonify(current_app.extensions["cqms"].api.spec.to_dict())


page = flask.Blueprint("core_api_docs_page", __name__, url_prefix="/api/v1/docs")


@page.route("/")
@public
def docs_page() -> Any:
    from core.web import csp_nonce

    response = current_app.make_response(render_template("core/api_docs.html"))
    # Swagger UI sets inline styles; scripts stay limited to our nonce.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{csp_nonce()}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    return response


@page.route("/assets/<name>")
@public
def docs_asset(name: str) -> Any:
    if name not in ASSETS:
        return current_app.response_class("not found", 404)
    return send_from_directory(SWAGGER_DIR, name, max_age=3600)
