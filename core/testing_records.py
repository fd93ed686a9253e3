"""One-line steps for tests of records through the services, each committed as a request
would: ``step(record, "approve", user, signature=sig())``, ``edit(record, user, field=...)``."""

from __future__ import annotations

from typing import Any

from core.db import db
from core.records.service import update_record
from core.signatures.service import SignatureRequest
from core.testing import DEFAULT_PASSWORD
from core.workflows.service import transition


def sig(password: str = DEFAULT_PASSWORD) -> SignatureRequest:
    """A signature given with the test users' password."""
    return SignatureRequest(password=password)


def step(record: Any, name: str, user: Any, **kwargs: Any) -> Any:
    """Take the transition ``name`` as ``user`` (``reason=``, ``signature=``) and commit."""
    transition(record, name, user, **kwargs)
    db.session.commit()
    return record


def edit(record: Any, user: Any, reason: str = "test", **values: Any) -> Any:
    """Change ``values`` at the record's current version, with ``reason``, and commit."""
    update_record(record, user, expected_version=record.version, reason=reason, **values)
    db.session.commit()
    return record
