"""Errors the core raises for plugins and views to turn into clear messages."""

from __future__ import annotations


class CQMSError(Exception):
    """Base of the core's own errors."""


class StartupError(CQMSError):
    """The plugin set is inconsistent; the message names the plugin."""


class ValidationError(CQMSError):
    """Bad input. ``errors`` maps each field name to a readable message."""

    def __init__(self, errors: dict[str, str] | str):
        self.errors = errors if isinstance(errors, dict) else {"_": errors}
        super().__init__("; ".join(f"{k}: {v}" if k != "_" else v for k, v in self.errors.items()))


class PermissionDenied(CQMSError):
    """The user lacks a permission."""


class ConflictError(CQMSError):
    """The action conflicts with the current state (e.g. a plugin requirement is disabled)."""


class WorkflowError(CQMSError):
    """An illegal transition, or a state change outside a transition (HTTP 409)."""

    def __init__(self, message: str, reasons: list[str] | None = None):
        self.reasons = reasons or [message]
        super().__init__(message)


class AuthenticationFailed(CQMSError):
    """Credentials re-entered for a signature are wrong (HTTP 401); counts towards lockout."""


class RateLimited(AuthenticationFailed):
    """Too many attempts (sign-in, token issue, signing) in the configured window: HTTP 429
    with ``Retry-After`` (core.rate_limits)."""

    title = "Too many attempts"

    def __init__(self, message: str, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message)


class TokenRefused(AuthenticationFailed):
    """A bearer token that may not be used now (unknown, revoked, expired, its account locked
    or deactivated, or older than the password): HTTP 401 saying which."""

    title = "API token refused"
