"""Web wiring: request context, policy enforcement, security headers, errors, core blueprints."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask import Flask, current_app, g, redirect, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

from core.audit.context import AuditContext, reset_context, set_context
from core.audit.kinds import field_label as audit_field_label
from core.audit.kinds import label_of as audit_label_of
from core.audit.kinds import shown_value as audit_shown_value
from core.db.engine import set_read_only
from core.delegations.service import delegators_of
from core.delegations.views import blueprint as delegations_blueprint
from core.extensions import login_manager
from core.permissions import enforce_request_policy
from core.settings import get_setting
from core.signatures.models import ATTESTATION_TEXT
from core.signatures.sessions import continuous as signing_continuous
from core.specs import key_words as words
from core.specs import task_kind_words
from core.state import CQMSState
from core.users.auth import load_session_user, touch_session
from core.users.tokens import load_bearer_user
from core.web.auth import blueprint as auth_blueprint
from core.web.devices import blueprint as devices_blueprint
from core.web.errors import register_error_handlers
from core.web.health import blueprint as health_blueprint
from core.web.input_guard import refuse_unstorable_input
from core.web.tokens import blueprint as tokens_blueprint

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _begin_request() -> Any:
    g.request_id = uuid.uuid4().hex
    g.cqms_tokens = (
        set_read_only(request.method in SAFE_METHODS),
        set_context(
            AuditContext(
                request_id=g.request_id,
                ip=(request.remote_addr or "")[:64],
                client=(request.user_agent.string or "browser")[:255],
            )
        ),
    )
    # A load balancer probes each node's health on its private plain-HTTP port.
    if (current_app.config["FORCE_HTTPS"] and not request.is_secure
            and request.endpoint != "core_health.healthz"):
        return redirect(request.url.replace("http://", "https://", 1), code=308)
    refused = refuse_unstorable_input()  # before anything queries with the request's text
    if refused is not None:
        return refused
    response = enforce_request_policy()
    if response is None and current_user.is_authenticated:
        touch_session()
    return response


def _end_request(_exc: BaseException | None) -> None:
    tokens = g.pop("cqms_tokens", None)
    if tokens:
        read_only_token, context_token = tokens
        reset_context(context_token)
        read_only_token.var.reset(read_only_token)


def _security_headers(response: Any) -> Any:
    nonce = csp_nonce()
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; font-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if (current_user.is_authenticated or request.endpoint == "core_auth.login"
            or request.path.startswith("/api/")):
        headers["Cache-Control"] = "no-store"
    if current_app.config["FORCE_HTTPS"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, never sent on API responses (the API is cookie-free)."""

    def should_set_cookie(self, app: Flask, session: Any) -> bool:
        if request.path.startswith("/api/"):
            return False
        return super().should_set_cookie(app, session)


def site_name() -> str:
    """The configured site name; falls back when the database cannot answer (error pages)."""
    try:
        return str(get_setting("core.site_name"))
    except Exception:  # noqa: BLE001 - an error page must render even without a database
        return "CQMS"


def install_web(app: Flask, state: CQMSState) -> None:
    app.session_interface = CookieSessions()
    login_manager.login_view = "core_auth.login"
    login_manager.session_protection = None  # our server-side sessions replace it
    login_manager.user_loader(load_session_user)
    login_manager.request_loader(load_bearer_user)
    app.before_request(_begin_request)
    app.teardown_request(_end_request)
    app.after_request(_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.globals["cqms"] = state
    app.jinja_env.globals["cqms_site_name"] = site_name
    app.jinja_env.globals["cqms_attestation_text"] = ATTESTATION_TEXT
    app.jinja_env.globals["cqms_audit_label"] = audit_label_of
    app.jinja_env.globals["cqms_audit_shown"] = audit_shown_value
    app.jinja_env.globals["cqms_words"] = words
    app.jinja_env.globals["cqms_task_kind"] = task_kind_words
    app.jinja_env.globals["cqms_audit_field"] = audit_field_label
    app.jinja_env.globals["cqms_signing_continuous"] = signing_continuous
    app.jinja_env.globals["cqms_signing_delegators"] = delegators_of
    register_error_handlers(app)
    app.register_blueprint(auth_blueprint)
    app.register_blueprint(tokens_blueprint)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(delegations_blueprint)
    app.register_blueprint(devices_blueprint)
