"""``/api/v1/auth/tokens``: issue (a sign-in), list and revoke bearer tokens; ``/api/v1/me``."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE

from core import rate_limits
from core.api import schemas
from core.db import db
from core.permissions import has_permission, login_only, public, user_permissions
from core.users.models import ApiToken
from core.users.service import get_user
from core.users.tokens import issue_token, revoke_token, sign_in_for_token, tokens_of

blp = Blueprint("core_api_auth", __name__, url_prefix="/api/v1",
                description="Bearer tokens and the calling user")
MANAGE_USERS = "core.users.manage"


@blp.route("/auth/tokens", methods=["POST"])
@blp.arguments(schemas.TokenRequest)
@blp.response(201, schemas.NewToken)
@blp.alt_response(401, schema=schemas.Problem, description="Wrong credentials or locked")
@blp.alt_response(403, schema=schemas.Problem, description="Must act in the web UI first")
@blp.alt_response(422, schema=schemas.Problem, description="Invalid body")
@blp.alt_response(429, schema=schemas.Problem,
                  description="Too many token requests from this address (Retry-After)")
@blp.doc(security=[])
@public
def create_token(body: dict[str, Any]) -> Any:
    """Sign in and get a bearer token (shown once). Failures count towards lockout; requests
    per client address are limited (TOKEN_RATE_LIMIT)."""
    rate_limits.check("token", rate_limits.client_address())
    user = sign_in_for_token(body["username"], body["password"], body.get("totp"))
    row, secret = issue_token(user, body.get("name") or "API token", body.get("expires_in_days"))
    db.session.commit()
    row.token = secret  # on this instance only: dumped once, never stored
    return row


@blp.route("/auth/tokens", methods=["GET"])
@login_only  # one's own tokens; others' need core.users.manage (checked below)
@blp.arguments(schemas.TokenListQuery, location="query", error_status_code=400,
               unknown=RAISE)
@blp.response(200, schemas.Token(many=True))
@blp.alt_response(400, schema=schemas.Problem)
@blp.alt_response(401, schema=schemas.Problem)
@blp.alt_response(403, schema=schemas.Problem)
def list_tokens(query: dict[str, Any]) -> Any:
    """Your tokens; administrators may name another user (or see all with ``user=*``)."""
    username = query.get("user")
    if not username or username == current_user.username:
        return tokens_of(current_user)
    if not has_permission(current_user, MANAGE_USERS):
        abort(403, description="Only administrators may list other users' tokens.")
    if username == "*":
        return tokens_of()
    user = get_user(username)
    if user is None:
        abort(404, description=f"No user {username!r}.")
    return tokens_of(user)


@blp.route("/auth/tokens/<int(max=2147483647):token_id>", methods=["DELETE"])
@login_only  # one's own token; others' need core.users.manage (checked below)
@blp.response(204)
@blp.alt_response(401, schema=schemas.Problem)
@blp.alt_response(404, schema=schemas.Problem)
def revoke(token_id: int) -> Any:
    """Revoke a token at once (its owner or an administrator)."""
    row = db.session.get(ApiToken, token_id)
    if row is None or (row.user_id != current_user.id
                       and not has_permission(current_user, MANAGE_USERS)):
        abort(404, description="No such token.")
    revoke_token(row, current_user._get_current_object())
    db.session.commit()
    return ""


@blp.route("/me", methods=["GET"])
@login_only
@blp.response(200, schemas.Me)
@blp.alt_response(401, schema=schemas.Problem)
def me() -> Any:
    """The calling user and their permissions."""
    user = current_user._get_current_object()
    return {"id": user.id, "username": user.username, "printed_name": user.printed_name,
            "permissions": sorted(user_permissions(user))}
