"""Attempt limits on sign-in, API token issue and signing, shared by every web node.

Counted in ``RATE_LIMIT_STORAGE_URL`` with the ``limits`` library (the engine of
Flask-Limiter): ``memory://`` counts in this process only (one node, ``make run``);
``redis://host:6379/0`` counts for every node together. Sign-in and token attempts are counted
per client address, signing attempts per user; the account lockout (``LOCKOUT_THRESHOLD``) still
counts wrong passwords per account. If the store cannot be reached the attempt is let through
and the error logged: lockout keeps protecting accounts while Redis is down.
"""

from __future__ import annotations

import logging
import time

from flask import current_app, request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from core.errors import RateLimited

log = logging.getLogger("cqms.rate_limits")
LIMITS = {  # kind: (configuration key, what the message calls it)
    "sign_in": ("SIGN_IN_RATE_LIMIT", "sign-in"),
    "token": ("TOKEN_RATE_LIMIT", "token"),
    "signing": ("SIGNING_RATE_LIMIT", "signing"),
}


def _strategy() -> MovingWindowRateLimiter:
    """This app's limiter on its store (made once, kept on the app)."""
    state = current_app.extensions["cqms"].__dict__
    found = state.get("_rate_limiter")
    if found is None:
        storage = storage_from_string(current_app.config["RATE_LIMIT_STORAGE_URL"])
        found = state["_rate_limiter"] = MovingWindowRateLimiter(storage)
    return found


def _limit(kind: str) -> RateLimitItem:
    return parse(current_app.config[LIMITS[kind][0]])


def client_address() -> str:
    return request.remote_addr or "unknown"


def check(kind: str, key: str) -> None:
    """Count one ``kind`` attempt by ``key``.

    :raises RateLimited: past the configured limit, with the seconds until one is free again.
    """
    limit, strategy = _limit(kind), _strategy()
    try:
        if strategy.hit(limit, kind, key):
            return
        reset = strategy.get_window_stats(limit, kind, key).reset_time
    except Exception as exc:  # noqa: BLE001 - the store is down: let the attempt through
        log.error("rate limit store unavailable (%s attempt let through): %s", kind, exc)
        return
    retry = max(1, int(reset - time.time()) + 1)
    raise RateLimited(f"Too many {LIMITS[kind][1]} attempts. Try again in {retry} seconds.",
                      retry)
