"""The owners of open Vendor records due within ``vendors.remind_days`` days are reminded once
per due date (``notify`` keeps one notification per record, due date and person)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import db, get_setting, notify, states_in
from cqms_vendors.models import Vendor


def remind_due(now):  # type: ignore[no-untyped-def]
    horizon = now.date() + timedelta(days=get_setting("vendors.remind_days"))
    due = db.session.scalars(select(Vendor).where(
        Vendor.state.in_(states_in("vendors_vendor", "draft", "open")),
        Vendor.due_date.is_not(None), Vendor.due_date <= horizon))
    return sum(1 for record in due if notify(
        "vendors.due", record.owner, f"{record.number} is due on {record.due_date}",
        f"{record.title}: due {record.due_date}.", record=record, due=record.due_date))
