"""Retention of records by record type (ISO-09, DI-A3): each built-in type declares a policy,
the record page says until when a record is kept, QA lists the records past retention, a
closed record stays retrievable by id, number and search, and no user path deletes a record,
its history or its files, before or after its retention period."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from core import ConflictError, RecordType, Retention, create_record, transition, utcnow
from core.attachments.models import Attachment
from core.attachments.service import add_attachment
from core.audit.models import AuditEntry
from core.db import db
from core.due import add_months
from core.errors import StartupError
from core.records.models import Record
from core.retention import closed_at, past_retention_ids, retain_until, retention_text
from core.retention_policy import check_retention
from core.testing import csrf_token
from core.testing_api import ApiCaller, ok
from plugins.capa.models import QualityEvent

pytestmark = [pytest.mark.req("ISO-09")]
ALL = ("capa", "audits", "documents", "training")


@pytest.mark.plugins(*ALL)
@pytest.mark.backends("sqlite")
def test_every_built_in_record_type_declares_a_retention_policy(app):
    types = app.extensions["cqms"].registry.record_types
    assert len(types) >= 12
    undeclared = sorted(key for key, rt in types.items() if rt.retention is None)
    assert undeclared == []
    assert types["capa_capa"].retention == Retention(years=15)
    assert types["core_config_change"].retention == Retention(years=25)
    assert "after the document became obsolete" in types["documents_version"].retention.rule_text


@pytest.mark.plugins()
@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(("policy", "message"), [
    (Retention(years=0), "years must be a whole number from 1 to 200"),
    (Retention(years=15, counted_from="approved"), "counted_from must be one of closed, created"),
    (Retention(rule=lambda record: None), "a rule must be callable and described in rule_text"),
    (15, "must be a core.Retention"),
])
def test_an_unusable_retention_policy_is_refused_at_start_up(app, policy, message):
    declared = RecordType("acme_thing", "Thing", QualityEvent, "TH", "acme_thing",
                          retention=policy)
    with pytest.raises(StartupError, match=message) as refused:
        check_retention("acme", declared)
    assert "plugin 'acme': record type 'acme_thing'" in str(refused.value)
    check_retention("acme", RecordType("acme_thing", "Thing", QualityEvent, "TH", "acme_thing",
                                       retention=Retention(years=2, counted_from="created")))


@pytest.fixture
def events(app, make_user, system_actor):
    """An open quality event and one cancelled (ended) by QA, with a file."""
    ann = make_user("ann", "author", full_name="Ann Author")
    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    make_user("ivan", "inspector", full_name="Ivan Inspector")
    open_one = create_record("capa_event", ann, title="Freezer alarm at site",
                             category="system_incident", description="Alarm rang twice.",
                             severity="minor", occurred_on=utcnow().date())
    ended = create_record("capa_event", ann, title="Archived temperature excursion",
                          category="system_incident", description="Logged twice in error.",
                          severity="minor", occurred_on=utcnow().date())
    db.session.commit()
    add_attachment(ended, ann, "log.txt", io.BytesIO(b"excursion log"), reason="evidence")
    db.session.commit()
    transition(ended, "cancel", quinn, reason="Entered twice in error")
    db.session.commit()
    return {"open": open_one, "ended": ended}


def _years_later(monkeypatch, years, days=0):
    later = utcnow() + timedelta(days=365 * years + years // 4 + days)
    monkeypatch.setattr("core.retention.utcnow", lambda: later)


@pytest.mark.req("DI-A3")
@pytest.mark.plugins("capa")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_retention_date_counts_from_closing_and_qa_lists_records_past_it(
        app, client, login, events, monkeypatch):
    ended, open_one = events["ended"], events["open"]
    closing = closed_at(ended)
    assert closing is not None and closed_at(open_one) is None
    until = add_months(closing.date(), 12 * 15)
    assert retain_until(ended) == until and retain_until(open_one) is None
    assert retention_text(ended) == f"Kept until {until.isoformat()} (15 years after it was closed)."
    assert "the date is set when that happens" in retention_text(open_one)
    rt = app.extensions["cqms"].registry.record_types["capa_event"]
    assert past_retention_ids(rt) == []  # kept: nothing is past retention today

    login(client, "quinn")
    page = client.get(f"/admin/capa_event/details/?id={ended.id}").get_data(as_text=True)
    assert f"Kept until {until.isoformat()} (15 years after it was closed)." in page
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == "capa_event")
    index, flt = next((i, f) for i, f in enumerate(view._filters) if f.name == "Past retention")
    arg = f"flt0_{view.get_filter_arg(index, flt)}"
    listed = client.get("/admin/capa_event/", query_string={arg: "yes"}).get_data(as_text=True)
    assert not re.findall(r"QE-\d{4}-\d{4}", listed)

    _years_later(monkeypatch, 15, days=-2)  # the day before the anniversary: still kept
    assert past_retention_ids(rt) == []
    _years_later(monkeypatch, 15, days=2)  # just past it: listed for QA; the open one never
    assert past_retention_ids(rt) == [ended.id]
    listed = client.get("/admin/capa_event/", query_string={arg: "yes"}).get_data(as_text=True)
    assert set(re.findall(r"QE-\d{4}-\d{4}", listed)) == {ended.number}
    page = client.get(f"/admin/capa_event/details/?id={ended.id}").get_data(as_text=True)
    assert "The retention period is over" in page
    assert client.get(f"/admin/capa_event/details/?id={open_one.id}").status_code == 200


@pytest.mark.req("DI-A3")
@pytest.mark.plugins("capa")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_closed_record_is_retrievable_by_id_number_and_search_for_its_retention_period(
        app, client, login, events, monkeypatch):
    ended = events["ended"]
    _years_later(monkeypatch, 14)  # well inside the 15 years
    for user in ("quinn", "ivan"):
        api = ApiCaller(client, user)
        assert ok(api.get(f"/records/capa_event/{ended.id}"))["state"] == "cancelled"
        assert ok(api.get(f"/records/by-number/{ended.number}"))["id"] == ended.id
        found = ok(api.get("/records/capa_event?q=temperature+excursion"))["items"]
        assert [r["number"] for r in found] == [ended.number]
        closed = ok(api.get("/records/capa_event?category=cancelled"))["items"]
        assert [r["number"] for r in closed] == [ended.number]
    login(client, "ivan")
    listed = client.get("/admin/capa_event/?search=temperature+excursion").get_data(as_text=True)
    assert set(re.findall(r"QE-\d{4}-\d{4}", listed)) == {ended.number}
    listed = client.get(f"/admin/capa_event/?search={ended.number}").get_data(as_text=True)
    assert set(re.findall(r"QE-\d{4}-\d{4}", listed)) == {ended.number}
    page = client.get(f"/admin/capa_event/details/?id={ended.id}")
    assert page.status_code == 200 and "Archived temperature excursion" in page.get_data(
        as_text=True)


@pytest.mark.plugins("capa")
@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.parametrize("years", [1, 16])  # before and after the retention period
def test_no_path_deletes_a_record_its_history_or_its_files(app, client, login, events,
                                                           monkeypatch, years):
    ended = events["ended"]
    _years_later(monkeypatch, years)
    assert (ended.id in past_retention_ids(
        app.extensions["cqms"].registry.record_types["capa_event"])) == (years > 15)
    api = ApiCaller(client, "quinn")
    assert api.delete(f"/records/capa_event/{ended.id}").status_code == 405
    [attachment] = db.session.scalars(select(Attachment).where(Attachment.record_id == ended.id))
    assert api.delete(f"/records/capa_event/{ended.id}/attachments").status_code == 405
    login(client, "quinn")
    token = csrf_token(client, f"/admin/capa_event/details/?id={ended.id}")
    answer = client.post("/admin/capa_event/delete/", data={"id": ended.id, "csrf_token": token})
    assert answer.status_code in (302, 403, 404, 405)

    db.session.delete(ended)
    with pytest.raises(ConflictError, match="never deleted"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(Attachment, attachment.id))
    with pytest.raises(ConflictError, match="never deleted"):
        db.session.flush()
    db.session.rollback()
    entries = select(AuditEntry.id).where(AuditEntry.entity_id == str(ended.id))
    before = len(db.session.scalars(entries).all())
    with pytest.raises(Exception, match="(?i)append|delet|not allowed|prohibit"):
        db.session.execute(delete(AuditEntry).where(AuditEntry.entity_id == str(ended.id)))
        db.session.flush()
    db.session.rollback()
    assert len(db.session.scalars(entries).all()) == before > 0
    assert db.session.get(Record, ended.id).state == "cancelled"
    assert db.session.get(Attachment, attachment.id) is not None
