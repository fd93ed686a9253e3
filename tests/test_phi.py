"""Protected health information (ISO-09): the quality event's description may hold subject
details, so it is tagged ``phi_fields``. Whoever lacks ``core.phi.view`` where the record is
sees it masked on the record page (fields and history), in the API and in the PDF, and gets no
certified copy; whoever holds it sees it, and each view of one record is audited."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from core import RecordType, create_record, update_record, utcnow
from core.audit.models import AuditEntry
from core.db import db
from core.errors import StartupError
from core.phi import MASK
from core.retention_policy import check_phi_fields
from core.testing import login, post_with_token
from core.testing_api import ApiCaller, ok, problem
from plugins.capa.models import QualityEvent

pytestmark = [pytest.mark.req("ISO-09"), pytest.mark.plugins("capa")]
SECRET = "Subject 1042 fainted after dosing"
LATER = "Subject 1042 recovered"


@pytest.fixture
def event(app, make_user, system_actor):
    ann = make_user("ann", "author", full_name="Ann Author")
    make_user("quinn", "qa_manager", full_name="Quinn Quality")
    make_user("ivan", "inspector", full_name="Ivan Inspector")
    found = create_record("capa_event", ann, title="Fainting at site 3",
                          category="system_incident", description=SECRET, severity="minor",
                          occurred_on=utcnow().date() - timedelta(days=1))
    db.session.commit()
    update_record(found, ann, expected_version=found.version, reason="follow-up",
                  description=LATER)
    db.session.commit()
    return found


def _viewed(event):
    return [(e.actor_name, e.field, e.new_value) for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "record.phi_viewed",
                                 AuditEntry.entity_id == str(event.id)).order_by(AuditEntry.id))]


def _pdf(client, event):
    response = post_with_token(client, f"/admin/capa_event/{event.id}/export.pdf")
    assert response.status_code == 200, response.get_data(as_text=True)
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.parametrize("who", ["ann", "ivan"])  # the author, the read-only inspector
def test_without_the_permission_phi_is_masked_on_the_page_api_pdf_and_history(client, event,
                                                                               who):
    login(client, who)
    page = client.get(f"/admin/capa_event/details/?id={event.id}").get_data(as_text=True)
    assert SECRET not in page and LATER not in page and "Subject 1042" not in page
    assert MASK in page and "Fainting at site 3" in page
    listed = client.get("/admin/capa_event/?search=fainting").get_data(as_text=True)
    assert event.number in listed and "Subject 1042" not in listed
    pdf = _pdf(client, event)
    assert "Subject 1042" not in pdf and "Protected health information" in pdf
    copy = post_with_token(client, f"/admin/capa_event/{event.id}/certified-copy.zip")
    assert copy.status_code == 302 and copy.mimetype != "application/zip"  # back, with why

    api = ApiCaller(client, who)
    assert ok(api.get(f"/records/capa_event/{event.id}"))["description"] == MASK
    assert ok(api.get(f"/records/by-number/{event.number}"))["description"] == MASK
    [row] = ok(api.get("/records/capa_event"))["items"]
    assert row["description"] == MASK and row["title"] == "Fainting at site 3"
    assert _viewed(event) == []  # nothing unmasked was shown


@pytest.mark.backends("sqlite", "postgresql")
def test_with_the_permission_phi_is_shown_and_each_view_is_audited(client, event):
    login(client, "quinn")
    page = client.get(f"/admin/capa_event/details/?id={event.id}").get_data(as_text=True)
    assert LATER in page and SECRET in page and MASK not in page  # field and history
    assert _viewed(event) == [("Quinn Quality (quinn)", "record page", "description")]
    client.get("/admin/capa_event/")  # a list is not logged row by row
    assert len(_viewed(event)) == 1
    assert LATER in _pdf(client, event)
    assert _viewed(event)[-1][1] == "PDF"

    api = ApiCaller(client, "quinn")
    assert ok(api.get(f"/records/capa_event/{event.id}"))["description"] == LATER
    assert ok(api.get(f"/records/by-number/{event.number}"))["description"] == LATER
    assert [v[1] for v in _viewed(event)] == ["record page", "PDF", "API", "API"]
    ok(api.get("/records/capa_event"))
    assert len(_viewed(event)) == 4


@pytest.mark.backends("sqlite")
def test_a_certified_copy_is_never_masked_so_it_is_refused_without_the_permission(client,
                                                                                   event):
    api = ApiCaller(client, "ivan")
    refused = problem(api.get(f"/records/capa_event/{event.id}/export?format=certified-copy"),
                      403)
    assert "protected health information you may not see" in refused["detail"]


@pytest.mark.backends("sqlite")
def test_phi_fields_must_be_columns_of_the_model(app):
    declared = RecordType("acme_thing", "Thing", QualityEvent, "TH", "acme_thing",
                          phi_fields=("subject_initials",))
    with pytest.raises(StartupError, match=r"unknown phi_fields \['subject_initials'\]"):
        check_phi_fields("acme", declared)
    check_phi_fields("acme", RecordType("acme_thing", "Thing", QualityEvent, "TH", "acme_thing",
                                        phi_fields=("description",)))


@pytest.mark.backends("sqlite", "postgresql")
def test_the_audit_trail_page_csv_and_api_mask_phi_for_a_reader_without_the_permission(
        app, event):
    for who, sees in (("ivan", False), ("quinn", True)):  # both hold core.audit.view
        client = app.test_client()
        login(client, who)
        page = client.get("/admin/core_audit/", query_string={"record": event.number}).get_data(
            as_text=True)
        csv_text = post_with_token(client, "/admin/core_audit/export.csv",
                                   query={"record": event.number}).get_data(as_text=True)
        api = ApiCaller(client, who)
        trail = ok(api.get(f"/records/capa_event/{event.id}/audit"))["items"]
        whole = ok(api.get("/audit", query_string={"record": event.number}))["items"]
        values = " ".join(str(e["old_value"]) + str(e["new_value"]) for e in trail + whole)
        for shown in (page, csv_text, values):
            assert (SECRET in shown and LATER in shown) is sees
            assert ("Subject 1042" not in shown and MASK in shown) is not sees


@pytest.mark.backends("sqlite", "postgresql")
def test_the_edit_form_leaves_out_phi_the_user_may_not_see(app, event):
    for who, sees in (("ann", False), ("quinn", True)):  # both may edit the event
        client = app.test_client()
        login(client, who)
        form = client.get(f"/admin/capa_event/edit/?id={event.id}")
        assert form.status_code == 200
        text = form.get_data(as_text=True)
        assert (LATER in text and 'name="description"' in text) is sees
        assert "Subject 1042" not in text or sees
