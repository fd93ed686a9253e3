"""Who is acting, why, and from where: the context every audit entry is stamped with."""

from __future__ import annotations

import contextvars
import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

SYSTEM_USERNAME = "system"


@dataclass(frozen=True)
class AuditContext:
    actor_id: int | None = None
    actor_name: str = ""
    reason: str = ""
    request_id: str = ""
    ip: str = ""
    client: str = ""


_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "cqms_audit_context", default=AuditContext()  # noqa: B039 - a frozen dataclass
)


def current_context() -> AuditContext:
    return _context.get()


@contextmanager
def audit_context(**changes: object) -> Iterator[AuditContext]:
    """Temporarily set actor, reason, request id, IP or client for the audit entries written."""
    token = _context.set(replace(_context.get(), **changes))  # type: ignore[arg-type]
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def current_reason() -> str:
    """The reason the current change is made for (``audit_reason``, or a transition's)."""
    return _context.get().reason


@contextmanager
def audit_reason(reason: str) -> Iterator[None]:
    with audit_context(reason=reason):
        yield


def set_context(ctx: AuditContext) -> contextvars.Token[AuditContext]:
    return _context.set(ctx)


def reset_context(token: contextvars.Token[AuditContext]) -> None:
    _context.reset(token)


def cli_client() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


@contextmanager
def acting_as(user: object) -> Iterator[AuditContext]:
    """Attribute the audit entries written inside to ``user`` (the person the service acts for),
    keeping the request's id, IP and client."""
    with audit_context(actor_id=user.id, actor_name=user.printed_name) as ctx:  # type: ignore[attr-defined]
        yield ctx
