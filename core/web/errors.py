"""Generic error pages (HTML) and problem+json (API, health): never a stack trace."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from core.db import db

MESSAGES = {
    400: "The request could not be understood.",
    401: "Please sign in.",
    403: "You do not have permission to open this page.",
    404: "This page does not exist, or its module is disabled.",
    405: "This method is not allowed here.",
    413: "The upload is too large.",
    500: "Something went wrong on our side. The error has been logged.",
}


def _wants_problem_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _render(code: int, detail: str, headers: Any = None) -> Any:
    if _wants_problem_json():
        title = MESSAGES.get(code, "Error")
        response = jsonify(type="about:blank", title=title, status=code, detail=detail)
        response.status_code = code
        response.mimetype = "application/problem+json"
    else:
        response = make_response(render_template("core/error.html", code=code, message=detail), code)
    if headers:
        for name, value in headers:
            if name.lower() == "allow":
                response.headers[name] = value
    return response


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    detail = MESSAGES.get(code, exc.description or "Error")
    if isinstance(exc, CSRFError):
        detail = "The form expired or was not sent from this site. Reload the page and try again."
    return _render(code, detail, exc.get_headers())


def _unexpected(exc: Exception) -> Any:
    db.session.rollback()
    current_app.logger.exception("unhandled error", exc_info=exc)
    return _render(500, MESSAGES[500])


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _http_error)
    app.register_error_handler(Exception, _unexpected)
