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
from core.web import csp_nonce

blp = Blueprint("core_api_docs", __name__, url_prefix="/api/v1", description="API description")
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})


@blp.route("/openapi.json")
@blp.doc(security=[], responses={"200": {"description": "This document"}})
@public
def openapi_json() -> Any:
    """The OpenAPI 3.1 description of every operation (plugins' included)."""
    spec = problem_media_types(current_app.extensions["cqms"].api.spec.to_dict())
    return jsonify(with_record_types(spec))


def with_record_types(spec: dict[str, Any]) -> dict[str, Any]:
    """``type_key`` path parameters list the record types of this deployment."""
    state = current_app.extensions["cqms"]
    keys = sorted(k for k, rt in state.registry.record_types.items() if rt.view_permission)
    for operations in spec.get("paths", {}).values():
        for parameter in operations.get("parameters", []):
            if parameter.get("name") == "type_key" and keys:
                parameter["schema"] = {**parameter.get("schema", {}), "enum": keys}
    return spec


def problem_media_types(spec: dict[str, Any]) -> dict[str, Any]:
    """Error responses are ``application/problem+json`` (flask-smorest documents them as JSON)."""

    def fix(responses: dict[str, Any], all_errors: bool = False) -> None:
        for code, response in responses.items():
            is_error = all_errors or code == "default" or (code.isdigit() and int(code) >= 400)
            content = response.get("content") if isinstance(response, dict) else None
            if is_error and content and "application/json" in content:
                content.pop("application/json")
                content["application/problem+json"] = {"schema": {
                    "$ref": "#/components/schemas/Problem"}}

    fix(spec.get("components", {}).get("responses", {}), all_errors=True)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                fix(operation["responses"])
    return spec


page = flask.Blueprint("core_api_docs_page", __name__, url_prefix="/api/v1/docs")


@page.route("/")
@public
def docs_page() -> Any:
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
