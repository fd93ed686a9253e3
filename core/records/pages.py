"""What a plugin's own pages ask of every record they show: the record a path names, if the
signed-in user (or API caller) may read it, else 404 (records out of scope do not exist for
them); and the address of the record's page."""

from __future__ import annotations

from typing import Any

from flask import abort, url_for
from flask_login import current_user

from core.db import db
from core.records.models import Record
from core.records.service import may_read


def readable_or_404(model: type, record_id: int) -> Any:
    """The ``model`` row ``record_id`` when the current user may read it; 404 otherwise."""
    record = db.session.get(model, record_id)
    if record is None or not current_user.is_authenticated or not may_read(
            record, current_user._get_current_object()):
        abort(404)
    return record


def record_page_url(record: Record) -> str:
    """The core's page of ``record`` (its details, actions, history and signatures)."""
    return url_for(f"{record.type}.details_view", id=record.id)
