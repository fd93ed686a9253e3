"""Continuous signing sessions (21 CFR 11.200(a)(1)(i)-(ii), P11-22).

The first signature of a signed-in browser session takes every component (user name and
password, plus the authenticator code of an enrolled user); later signatures in the same
continuous session take at least the password. The session is the server-side sign-in
session: signing in again, signing out or the idle/absolute timeout starts a new one, and the
user name is asked again. API tokens are not sessions: every API signature gives all
components.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import has_request_context, request, session
from flask_login import current_user

from core.users.auth import API_PATH

SIGNED_KEY = "cqms_signed_in_session"


def _browser_session_of(user: Any) -> str | None:
    """The id of ``user``'s current browser sign-in session, or None outside one (no request,
    an API request, or a request signed in as someone else)."""
    if not has_request_context() or request.path.startswith(API_PATH):
        return None
    token = getattr(user, "session_token", None)
    if not token or not current_user.is_authenticated or current_user.id != user.id:
        return None
    return hashlib.sha256(token.encode()).hexdigest()


def in_browser_session(user: Any) -> bool:
    return _browser_session_of(user) is not None


def continuous(user: Any) -> bool:
    """Whether ``user`` already signed once in this sign-in session (the user name may then be
    left out)."""
    current = _browser_session_of(user)
    return current is not None and session.get(SIGNED_KEY) == current


def mark_signed(user: Any) -> None:
    """Remember that ``user`` gave every component in this sign-in session."""
    current = _browser_session_of(user)
    if current is not None:
        session[SIGNED_KEY] = current
