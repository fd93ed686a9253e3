"""No unintended use of obsolete documents (ISO-06): a record is ``governed_by`` only an effective
document or the effective version of one; anything else is refused with 409 (core hook
``validate_link``), through the API and the admin link form, and nothing is written."""

from __future__ import annotations

import pytest
from documents_helpers import attach, draft, people, seeded, sig, step, to_effective
from sqlalchemy import func, select

from core import ConflictError, db, link_records
from core.records.models import RecordLink
from core.testing import csrf_token
from core.testing_api import ApiCaller, problem
from core.users.service import get_user
from plugins.documents.services import revise

pytestmark = pytest.mark.plugins("documents")
DOCS = "/admin/documents_document/"


@pytest.fixture
def library(app, make_user, system_actor):
    """SOP-0001 obsolete; SOP-0002 effective (v1.0) with v2.0 in draft; FORM-0001 in draft (the
    record to be governed). ``olga`` writes documents and reads history."""
    seeded(system_actor)
    author, reviewer, approver, qa = people(make_user)
    make_user("olga", "author", "auditor")
    retired, old = draft(author, title="Old balance calibration")
    to_effective(old, author, reviewer, approver, qa)
    step(old, "obsolete", approver, reason="Balance retired", signature=sig())
    current, v1 = draft(author, title="Balance calibration")
    to_effective(v1, author, reviewer, approver, qa)
    v2 = revise(current, author, major=True, change_summary="New balance",
                change_reason="Replaced")
    db.session.commit()
    attach(v2, author)
    form, _form_version = draft(author, type_code="FORM", title="Calibration log")
    return {"retired": retired, "old": old, "current": current, "v1": v1, "v2": v2,
            "form": form, "author": author}


def links() -> int:
    return db.session.scalar(select(func.count()).select_from(RecordLink))


@pytest.mark.req("ISO-06")
@pytest.mark.backends("sqlite", "postgresql")
def test_governed_by_only_effective_documents_in_the_api(client, library, cqms_backend):
    olga = ApiCaller(client, "olga")
    url = f"/records/documents_document/{library['form'].id}/links"
    before = links()
    for key, state in (("retired", "obsolete"), ("old", "obsolete"), ("v2", "draft")):
        refused = problem(olga.post(url, json={"target": library[key].number,
                                               "kind": "governed_by"}), 409)
        assert f"{library[key].number} is {state}" in refused["detail"], refused
    assert links() == before  # nothing written
    for key in ("current", "v1"):
        made = olga.post(url, json={"target": library[key].number, "kind": "governed_by"})
        assert made.status_code == 201, made.get_json()
    # Other kinds of link (a history reference) stay possible.
    assert olga.post(url, json={"target": library["retired"].number,
                                "kind": "references"}).status_code == 201
    # The service refuses it too, whoever calls it (one who may see the obsolete document).
    with pytest.raises(ConflictError):
        link_records(library["form"], library["retired"], "governed_by", get_user("olga"))
    db.session.rollback()


@pytest.mark.req("ISO-06")
def test_the_admin_link_form_refuses_an_obsolete_procedure(client, login, library):
    login(client, "olga")
    form = library["form"]
    before = links()
    page = client.post(f"{DOCS}{form.id}/links", data={
        "csrf_token": csrf_token(client, f"{DOCS}details/?id={form.id}"),
        "target": library["retired"].number, "kind": "governed_by", "reason": "Procedure"},
        follow_redirects=True).get_data(as_text=True)
    assert "Check the form:" in page and f"{library['retired'].number} is obsolete" in page
    assert links() == before
    page = client.post(f"{DOCS}{form.id}/links", data={
        "csrf_token": csrf_token(client, f"{DOCS}details/?id={form.id}"),
        "target": library["current"].number, "kind": "governed_by", "reason": "Procedure"},
        follow_redirects=True).get_data(as_text=True)
    assert f"governed by {library['current'].number}." in page
    assert links() == before + 1


@pytest.mark.backends("sqlite", "postgresql")
def test_the_impact_of_a_procedure_reaches_its_versions_and_what_it_governs(client, library):
    olga = ApiCaller(client, "olga")
    form, current = library["form"], library["current"]
    made = olga.post(f"/records/documents_document/{form.id}/links",
                     json={"target": current.number, "kind": "governed_by"})
    assert made.status_code == 201, made.get_json()
    impact = olga.get(f"/records/documents_document/{current.id}/impact").get_json()
    reached = {r["record"]["number"]: (r["depth"], r["via"]) for r in impact["records"]}
    assert reached[library["v1"].number] == (1, f"{current.number} has")
    assert reached[library["v2"].number] == (1, f"{current.number} has")
    assert reached[form.number] == (1, f"{current.number} governs")
    assert {r["type_label"] for r in impact["records"]} >= {"Document", "Document version"}
