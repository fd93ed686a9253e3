"""Shared plumbing of CLI commands: app access, system actor, one transaction per command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import click
from flask import current_app

from core.audit.context import AuditContext, audit_context, cli_client
from core.db import db
from core.errors import CQMSError
from core.users.service import system_context


def state():  # type: ignore[no-untyped-def]
    return current_app.extensions["cqms"]


@contextmanager
def system_principal() -> Iterator[AuditContext]:
    """Act as the system principal, the operating-system user and host named as the client."""
    ctx = system_context(cli_client())
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name,
                       client=ctx.client) as active:
        yield active


def as_system(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run the command as the system principal in one transaction (all or nothing). The commit
    is made as the system principal too: the reactions it triggers (``record_created``,
    ``role_assignment_changed``, ...) run at commit and act as the command did."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with system_principal():
                result = fn(*args, **kwargs)
                db.session.commit()
            return result
        except (CQMSError, click.ClickException):
            db.session.rollback()
            raise
        except Exception as exc:
            db.session.rollback()
            if _missing_tables(exc):
                raise click.ClickException(
                    "the database is not set up: run `cqms db upgrade` first"
                ) from None
            raise

    return wrapper


def _missing_tables(exc: Exception) -> bool:
    text = str(exc).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)
