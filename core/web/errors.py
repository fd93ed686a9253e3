"""Generic error pages (HTML) and problem+json (API, health): never a stack trace."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from core.db import db
from core.errors import CQMSError, RateLimited, ValidationError

MESSAGES = {
    400: "The request could not be understood.",
    401: "Please sign in.",
    403: "You do not have permission to open this page.",
    404: "This page does not exist, or its module is disabled.",
    405: "This method is not allowed here.",
    413: "The upload is too large.",
    429: "Too many attempts. Wait a moment and try again.",
    500: "Something went wrong on our side. The error has been logged.",
}


def _wants_problem_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _render(code: int, detail: str, headers: Any = None,
            errors: dict[str, list[str]] | None = None, title: str | None = None) -> Any:
    if _wants_problem_json():
        title = title or MESSAGES.get(code, "Error")
        body: dict[str, Any] = {"type": "about:blank", "title": title, "status": code,
                                "detail": detail}
        if errors:
            body["errors"] = errors
        response = jsonify(body)
        response.status_code = code
        response.mimetype = "application/problem+json"
        if code == 401 and request.path.startswith("/api/"):
            response.headers["WWW-Authenticate"] = 'Bearer realm="cqms"'

    else:
        response = make_response(render_template("core/error.html", code=code, message=detail), code)
    if headers:
        for name, value in headers:
            if name.lower() in ("allow", "retry-after"):
                response.headers[name] = value
    return response


def error_response(code: int, detail: str, errors: dict[str, list[str]] | None = None) -> Any:
    """The error answer of the request (problem+json under /api/, else the error page)."""
    return _render(code, detail, None, errors)


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    detail = MESSAGES.get(code, exc.description or "Error")
    if isinstance(exc, CSRFError):
        detail = "The form expired or was not sent from this site. Reload the page and try again."
    elif _wants_problem_json() and code < 500 and exc.description != type(exc).description:
        detail = exc.description or detail  # a message written for this case, not the default
    errors = _field_errors(getattr(exc, "data", None) or {})
    if errors and code in (400, 422):
        detail = "Check these fields: " + ", ".join(errors)
    return _render(code, detail, exc.get_headers(), errors)


def _field_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    """Request-parsing errors (webargs: ``{"json": {"field": ["message"]}}``) by field name."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            flat.setdefault(prefix or "_", []).extend(value)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}", inner)
        else:
            flat.setdefault(prefix or "_", []).append(str(value))

    for _location, messages in (data.get("messages") or {}).items():
        walk("", messages)
    return flat


STATUS_OF = {
    "RateLimited": 429,
    "ValidationError": 422,
    "PermissionDenied": 403,
    "ConflictError": 409,
    "WorkflowError": 409,
    "AuthenticationFailed": 401,
    "AttachmentIntegrityError": 409,
    "CertifiedCopyRefused": 409,
    "ExportUnavailable": 503,
    "StorageUnavailable": 503,
    "ReadOnlyError": 503,
    "AwaitingValidation": 503,
}


def _domain_error(exc: CQMSError) -> Any:
    """A core error no view turned into a message: its status, its text, its fields; nothing
    of the request is kept (a failed credential check was counted in its own transaction)."""
    db.session.rollback()
    status = next((code for cls in type(exc).__mro__ if (code := STATUS_OF.get(cls.__name__))),
                  None)
    if status is None:
        return _unexpected(exc)
    errors = None
    if isinstance(exc, ValidationError):
        errors = {name: [message] for name, message in exc.errors.items()}
    headers = [("Retry-After", str(exc.retry_after))] if isinstance(exc, RateLimited) else None
    return _render(status, str(exc), headers, errors, getattr(exc, "title", None))


def _unexpected(exc: Exception) -> Any:
    db.session.rollback()
    current_app.logger.exception("unhandled error", exc_info=exc)
    return _render(500, MESSAGES[500])


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(CQMSError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _http_error)
    app.register_error_handler(Exception, _unexpected)
