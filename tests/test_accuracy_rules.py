"""DI-A2 (accurate): the server checks every value on both paths, the API and the admin form,
with the same rules: the record type's write schema (types, lengths, a declared marshmallow
schema's validators), the workflow's guards (fields a state needs) and the plugins'
``validate_change`` cross-field rules. A refused change writes nothing."""

from __future__ import annotations

import pytest
from kernel_plugin import WORKFLOW, AcmeWidget
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from core import Permission, RecordType, RoleTemplate, create_record, update_record
from core.api.records_io import TEXT_LIMIT
from core.api.schemas import Text
from core.audit.models import AuditEntry
from core.db import db
from core.testing import csrf_token
from core.testing_api import ApiCaller

URL = "/admin/acme_widget/"
TOO_LONG = "The code is at most 12 characters."
SAME_AS = "The notes repeat the description: say something else."


class WidgetWrite(Schema):
    """The widget's declared write schema: the code is short (a rule the database does not
    know, so only the schema can enforce it)."""

    title = Text(required=True, validate=validate.Length(min=1, max=300))
    description = Text(validate=validate.Length(max=12, error=TOO_LONG))
    notes = Text(validate=validate.Length(max=TEXT_LIMIT))
    study_id = fields.Integer(allow_none=True)
    site_id = fields.Integer(allow_none=True)


def notes_differ(record, changes):  # type: ignore[no-untyped-def]
    """A cross-field rule: the notes may not repeat the description."""
    if isinstance(record, AcmeWidget) and record.notes and record.notes == record.description:
        return [("notes", SAME_AS)]
    return []


def plugin(temp_plugin, schema=None):  # type: ignore[no-untyped-def]
    return temp_plugin(
        "acme",
        register_models=lambda: [AcmeWidget],
        register_permissions=lambda: [Permission("acme.edit", "Edit widgets"),
                                      Permission("acme.approve", "Approve widgets")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",))],
        register_workflows=lambda: [WORKFLOW],
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), view_permission="acme.edit",
            manage_permission="acme.edit", schema=schema)],
        validate_change=notes_differ,
    )


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": plugin(temp_plugin)}}


def widgets() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AcmeWidget))


def audit_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


def form_post(client, url, **values):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(client, url), "title": "Pump", "description": "Blue",
            "notes": "", "study": "__None", "site": "__None", **values}
    return client.post(url, data=data)


def shown(response) -> str:  # type: ignore[no-untyped-def]
    """The form shown again (not a redirect to the list): its text."""
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    assert 'name="title"' in page
    return page


def refused_by_api(response, field: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert field in errors, errors
    return " ".join(errors[field]) if isinstance(errors[field], list) else errors[field]


@pytest.mark.req("DI-A2")
@pytest.mark.backends("sqlite", "postgresql")
def test_bad_types_and_too_long_values_are_refused_on_both_paths(client, make_user, login):
    make_user("ann", "author")
    api = ApiCaller(client, "ann")
    before = audit_rows()
    assert "Not a valid string" in refused_by_api(
        api.post("/records/acme_widget", json={"title": "Pump", "description": 42}),
        "description")
    huge = "x" * (TEXT_LIMIT + 1)
    assert "Longer than maximum length" in refused_by_api(
        api.post("/records/acme_widget", json={"title": "Pump", "notes": huge}), "notes")
    assert widgets() == 0 and audit_rows() == before

    login(client, "ann")
    page = shown(form_post(client, URL + "new/", notes=huge))
    assert "Longer than maximum length 100000." in page  # the API's rule, on the form
    assert widgets() == 0
    created = form_post(client, URL + "new/", notes="fine")
    assert created.status_code == 302 and widgets() == 1  # the same form, a good value: saved


@pytest.mark.req("DI-A2")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_declared_schema_is_the_forms_rule_too(app_factory, temp_plugin, make_user, login):
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin(temp_plugin, WidgetWrite)})
    with app.app_context():
        client = app.test_client()
        ann = make_user("ann", "author")
        api = ApiCaller(client, "ann")
        assert refused_by_api(api.post("/records/acme_widget", json={
            "title": "Pump", "description": "far too long a code"}), "description") == TOO_LONG
        login(client, "ann")
        assert TOO_LONG in shown(form_post(client, URL + "new/",
                                           description="far too long a code"))
        assert widgets() == 0
        record = create_record("acme_widget", ann, title="Pump", description="P-1")
        db.session.commit()
        edit = f"{URL}edit/?id={record.id}"
        page = shown(form_post(client, edit, description="far too long a code",
                               expected_version="1"))
        assert TOO_LONG in page
        assert refused_by_api(api.patch(f"/records/acme_widget/{record.id}",
                                        json={"description": "far too long a code"},
                                        headers={"If-Match": '"1"'}), "description") == TOO_LONG
        db.session.expire_all()
        assert (record.description, record.version) == ("P-1", 1)


@pytest.mark.req("DI-A2")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_field_the_next_state_needs_blocks_the_transition_on_both_paths(client, make_user,
                                                                          login):
    ann = make_user("ann", "author")
    first = create_record("acme_widget", ann, title="Pump", description="  ")
    second = create_record("acme_widget", ann, title="Valve", description="")
    db.session.commit()
    api = ApiCaller(client, "ann")
    refused = api.post(f"/records/acme_widget/{first.id}/transitions/submit", json={})
    assert refused.status_code in (409, 422), refused.get_data(as_text=True)
    assert "the description is empty" in refused.get_data(as_text=True)
    login(client, "ann")
    page = client.post(f"{URL}{second.id}/transition/submit",
                       data={"csrf_token": csrf_token(client, URL)}, follow_redirects=True)
    assert "the description is empty" in page.get_data(as_text=True)
    db.session.expire_all()
    assert [(r.state, r.version) for r in (first, second)] == [("draft", 1), ("draft", 1)]
    update_record(first, ann, expected_version=1, description="Blue")  # the missing field
    db.session.commit()
    done = api.post(f"/records/acme_widget/{first.id}/transitions/submit", json={})
    assert done.status_code == 200 and done.get_json()["state"] == "in_review"


@pytest.mark.req("DI-A2")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_cross_field_rule_refuses_the_same_change_on_both_paths(client, make_user, login):
    ann = make_user("ann", "author")
    record = create_record("acme_widget", ann, title="Pump", description="Blue")
    db.session.commit()
    api = ApiCaller(client, "ann")
    assert refused_by_api(api.patch(f"/records/acme_widget/{record.id}", json={"notes": "Blue"},
                                    headers={"If-Match": '"1"'}), "notes") == SAME_AS
    assert refused_by_api(api.post("/records/acme_widget", json={
        "title": "Valve", "description": "Red", "notes": "Red"}), "notes") == SAME_AS
    login(client, "ann")
    edit = f"{URL}edit/?id={record.id}"
    assert SAME_AS in shown(form_post(client, edit, notes="Blue", expected_version="1"))
    assert SAME_AS in shown(form_post(client, URL + "new/", title="Valve", description="Red",
                                      notes="Red"))
    db.session.expire_all()
    assert widgets() == 1 and (record.notes, record.version) == ("", 1)
    assert form_post(client, edit, notes="Checked", expected_version="1").status_code == 302
    db.session.expire_all()
    assert (record.notes, record.version) == ("Checked", 2)


PERIOD = "period_end"


@pytest.mark.req("DI-A2")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_audit_programmes_period_rule_holds_on_both_paths(app_factory, make_user, login):
    """A plugin's real cross-field rule (plugins/audits/rules.py): a period ends after it
    starts; the API and the admin form refuse the same change, naming the end date."""
    app = app_factory(plugins=["audits"])
    with app.app_context():
        client = app.test_client()
        make_user("quinn", "qa_manager")
        api = ApiCaller(client, "quinn")
        backwards = {"period_start": "2027-06-30", "period_end": "2027-01-01"}
        message = refused_by_api(api.post("/records/audits_programme",
                                          json={"title": "Programme 2027", **backwards}), PERIOD)
        login(client, "quinn")
        url = "/admin/audits_programme/new/"
        page = shown(client.post(url, data={"csrf_token": csrf_token(client, url),
                                            "title": "Programme 2027", "scope": "",
                                            "study": "__None", "site": "__None", **backwards}))
        assert message in page  # the same rule's message, on the form
        assert f"{PERIOD}:" not in page  # named by the field's label, not its column
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(
            app.extensions["cqms"].registry.record_types["audits_programme"].model)) == 0
        forwards = {"period_start": "2027-01-01", "period_end": "2027-12-31"}
        created = api.post("/records/audits_programme", json={"title": "Programme 2027",
                                                              **forwards})
        assert created.status_code == 201, created.get_data(as_text=True)
        record_id = created.get_json()["id"]
        assert refused_by_api(api.patch(f"/records/audits_programme/{record_id}",
                                        json={"period_end": "2026-12-31"},
                                        headers={"If-Match": '"1"'}), PERIOD) == message
        edit = f"/admin/audits_programme/edit/?id={record_id}"
        assert message in shown(client.post(edit, data={"csrf_token": csrf_token(client, edit),
                                      "title": "Programme 2027", "scope": "",
                                      "study": "__None", "site": "__None",
                                      "expected_version": "1", "reason": "",
                                      "period_start": "2027-01-01",
                                      "period_end": "2026-12-31"}))
        db.session.expire_all()
        assert api.get(f"/records/audits_programme/{record_id}").get_json()[
            "period_end"] == "2027-12-31"
