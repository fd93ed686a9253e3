"""Every export is an audited event: who took which copy of what, when, and its SHA-256."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.audit.service import record_event
from core.config_versions import active_version
from core.db import db
from core.db.engine import set_read_only


def audit_export(kind: str, entity_type: str, entity_id: Any = "", *, detail: str,
                 entity_version: int | None = None) -> int:
    """Write an ``export`` entry (``field`` = ``kind``: pdf, certified_copy, csv), naming the
    configuration version in force (P11-13), and commit it.

    Exports are GET downloads whose request transaction is read-only (a deferred ``BEGIN`` on
    SQLite); the entry is written in its own short write transaction, after the file is built
    and before it is sent, so a download that cannot be audited is not served."""
    detail = f"{detail}; {active_version().label}"
    return audit_now("export", entity_type, entity_id, field=kind, new=detail,
                     entity_version=entity_version)


def audit_now(action: str, entity_type: str, entity_id: Any = "", **values: Any) -> int:
    """Write one event entry in a short write transaction of its own and commit it (from a
    read-only request or job: an export, a check of the trail)."""
    db.session.commit()  # ends the read transaction; a GET has nothing pending
    token = set_read_only(False)
    try:
        seq = record_event(action, entity_type, entity_id, **values)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        token.var.reset(token)
    return seq


HEADER = "X-CQMS-Configuration-Version"


def stamp_configuration_version(response: Response) -> Response:
    """Every download (a response sent as an attachment: CSV lists, the audit trail CSV, PDFs,
    certified copies, job files) names the configuration version in force in a header."""
    if response.headers.get("Content-Disposition", "").startswith("attachment"):
        response.headers[HEADER] = active_version().label
    return response
