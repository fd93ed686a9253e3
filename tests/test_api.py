"""The JSON API: tokens, records round trip, errors as problem+json, scope, keyset pages."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, select

from core import create_record
from core.audit.models import AuditEntry
from core.db import db
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD
from core.testing_api import ApiCaller
from core.users.models import ApiToken, User
from core.users.service import get_user

API = "/api/v1"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def app_config(temp_plugin):
    """Every built-in plugin and the test record type, so the per-type tests cover them all."""
    return {"plugins": ["documents", "training", "capa", "audits", "acme"],
            "extra_plugins": {"acme": make_plugin(temp_plugin)}}


def token_for(client, username, password=DEFAULT_PASSWORD, **extra):
    response = client.post(f"{API}/auth/tokens", json={"username": username,
                                                       "password": password, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


@pytest.fixture
def as_user(client, make_user):
    def login(username, *roles, **kwargs):
        make_user(username, *roles, **kwargs)
        return ApiCaller(client, token=token_for(client, username))
    return login


def assert_problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    if field:
        assert field in body["errors"], body
    return body


@pytest.mark.req("SEC-13")
def test_tokens_are_issued_hashed_listed_and_revoked(client, make_user):
    make_user("alice", "author")
    response = client.post(f"{API}/auth/tokens", json={"username": "alice",
                                                       "password": DEFAULT_PASSWORD,
                                                       "name": "ETL", "expires_in_days": 7})
    assert response.status_code == 201
    body = response.get_json()
    token = body["token"]
    assert token.startswith("cqms_")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash != token and token not in stored.token_hash
    alice = ApiCaller(client, token=token)
    assert alice.get("/me").get_json()["username"] == "alice"
    listed = alice.get("/auth/tokens").get_json()
    assert [t["name"] for t in listed] == ["ETL"] and "token" not in listed[0]
    assert alice.delete(f"/auth/tokens/{stored.id}").status_code == 204
    assert_problem(alice.get("/me"), 401)
    assert alice.get("/me").headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.req("P11-18")
@pytest.mark.backends("sqlite", "postgresql")
def test_token_sign_in_counts_failures_and_locks(client, make_user, app):
    make_user("alice", "author")
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        assert_problem(client.post(f"{API}/auth/tokens", json={
            "username": "alice", "password": "wrong-password-123"}), 401)
    locked = client.post(f"{API}/auth/tokens", json={"username": "alice",
                                                     "password": DEFAULT_PASSWORD})
    assert_problem(locked, 401)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "account.locked")) == 1


def test_the_api_ignores_session_cookies_and_unknown_tokens(client, make_user, login):
    make_user("alice", "author")
    login(client, "alice")
    assert_problem(client.get(f"{API}/me"), 401)  # a browser session does not reach the API
    assert_problem(client.get(f"{API}/me", headers={"Authorization": "Bearer cqms_nope"}), 401)
    assert client.get(f"{API}/openapi.json").status_code == 200  # public description


def test_bad_token_requests_name_the_field(client):
    body = assert_problem(client.post(f"{API}/auth/tokens", json={"password": "x"}), 422,
                          "username")
    assert "username" in body["detail"]
    assert_problem(client.post(f"{API}/auth/tokens", json={"username": "a", "password": "b",
                                                           "extra": 1}), 422, "extra")
    assert_problem(client.post(f"{API}/auth/tokens", data="not json",
                               content_type="application/json"), 400)


@pytest.mark.req("SEC-01", "P11-05", "A11-04", "SEC-13")
def test_record_round_trip(as_user, make_user):
    alice = as_user("alice", "author")
    bob = as_user("bob", "approver")
    types = alice.get("/record-types").get_json()
    [widget_type] = [t for t in types if t["key"] == "acme_widget"]
    assert "submit" in [t["name"] for t in widget_type["transitions"]]
    assert {"description", "title"} <= {f["name"] for f in widget_type["fields"]}

    created = alice.post("/records/acme_widget", json={"title": "Pump", "description": "Blue"})
    assert created.status_code == 201, created.get_json()
    record = created.get_json()
    assert record["number"].startswith("WID-") and record["state"] == "draft"
    assert created.headers["ETag"] == '"1"' and created.headers["Location"].endswith(
        f"/records/acme_widget/{record['id']}")
    url = f"/records/acme_widget/{record['id']}"
    assert_problem(alice.patch(url, json={"description": "Green"}), 428)
    assert_problem(alice.patch(url, json={"description": "Green"}, headers={"If-Match": '"9"'}),
                   409)
    changed = alice.patch(url, json={"description": "Green"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.get_json()["description"] == "Green"
    assert_problem(alice.patch(url, json={"state": "approved"}, headers={"If-Match": '"2"'}),
                   422, "state")
    assert_problem(alice.patch(url, json={"colour": "red"}, headers={"If-Match": '"2"'}),
                   422, "colour")
    moved = alice.post(f"{url}/transitions/submit", json={})
    assert moved.status_code == 200 and moved.get_json()["state"] == "in_review"
    assert_problem(alice.patch(url, json={"description": "Red"}, headers={"If-Match": '"3"'}),
                   422, "reason")
    assert_problem(alice.post(f"{url}/transitions/approve", json={
        "signature": {"username": "alice", "password": DEFAULT_PASSWORD}}), 403)  # SoD / rights
    assert_problem(bob.post(f"{url}/transitions/approve", json={}), 422, "signature")
    assert_problem(bob.post(f"{url}/transitions/approve", json={
        "signature": {"username": "bob", "password": "wrong-password-123", "attest": True}}),
        401)
    assert_problem(bob.post(f"{url}/transitions/approve", json={
        "signature": {"username": "bob", "password": DEFAULT_PASSWORD}}), 403)  # not attested
    approved = bob.post(f"{url}/transitions/approve", json={
        "signature": {"username": "bob", "password": DEFAULT_PASSWORD, "attest": True,
                      "comment": "OK"}})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["state"] == "approved"
    assert_problem(bob.post(f"{url}/transitions/approve", json={
        "signature": {"username": "bob", "password": DEFAULT_PASSWORD}}), 409)  # illegal now
    [signature] = alice.get(f"{url}/signatures").get_json()
    assert signature["printed_name"] == "Bob Tester" and signature["meaning"] == "approved"
    assert signature["manifestation"].endswith(" UTC") and signature["valid"]
    trail = alice.get(f"{url}/audit").get_json()["items"]
    assert [e["seq"] for e in trail] == sorted(e["seq"] for e in trail)
    assert any(e["action"] == "transition" and e["field"] == "approve" for e in trail)
    assert alice.get(f"/records/by-number/{record['number']}").get_json()["id"] == record["id"]


def test_links_and_attachments(as_user):
    alice = as_user("alice", "author")
    first = alice.post("/records/acme_widget", json={"title": "A"}).get_json()
    second = alice.post("/records/acme_widget", json={"title": "B"}).get_json()
    url = f"/records/acme_widget/{first['id']}"
    linked = alice.post(f"{url}/links", json={"target": second["number"], "kind": "addresses"})
    assert linked.status_code == 201 and linked.get_json()["direction"] == "outgoing"
    back = alice.get(f"/records/acme_widget/{second['id']}/links").get_json()
    assert back[0]["direction"] == "incoming" and back[0]["record"]["number"] == first["number"]
    assert_problem(alice.post(f"{url}/links", json={"target": "NOPE-1", "kind": "x"}), 422,
                   "target")
    uploaded = alice.post(f"{url}/attachments", data={"file": (io.BytesIO(PDF), "spec.pdf")},
                          content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.get_json()
    files = alice.get(f"{url}/attachments").get_json()
    assert files[0]["filename"] == "spec.pdf" and len(files[0]["sha256"]) == 64
    download = alice.client.get(files[0]["download"], headers=alice.headers)
    assert download.data == PDF and "attachment" in download.headers["Content-Disposition"]
    assert_problem(alice.post(f"{url}/attachments", data={}, content_type="multipart/form-data"),
                   422, "file")


@pytest.mark.req("SEC-02", "E6-10")
def test_scope_applies_to_lists_and_objects(as_user, system_actor):
    study = Study(code="ST-1", title="Study one")
    s1, s2 = Site(study=study, code="101", name="Berlin"), Site(study=study, code="102",
                                                               name="Lyon")
    db.session.add_all([study, s1, s2])
    db.session.commit()
    owner = as_user("olga", "author")
    sam = as_user("sam", "site_monitor", site=s1)
    lou = as_user("lou", "site_monitor", site=s2)
    mine = owner.post("/records/acme_widget", json={"title": "At 101", "site_id": s1.id}
                      ).get_json()
    assert mine["study_id"] == study.id  # taken from the site
    theirs = owner.post("/records/acme_widget", json={"title": "At 102", "site_id": s2.id}
                        ).get_json()
    listed = [r["title"] for r in sam.get("/records/acme_widget").get_json()["items"]]
    assert listed == ["At 101"]
    assert sam.get(f"/records/acme_widget/{mine['id']}").status_code == 200
    for url in (f"/records/acme_widget/{theirs['id']}", f"/records/by-number/{theirs['number']}",
                f"/records/acme_widget/{theirs['id']}/audit"):
        assert_problem(sam.get(url), 404)
    assert_problem(sam.post(f"/records/acme_widget/{theirs['id']}/transitions/submit", json={}),
                   404)
    assert_problem(sam.post("/records/acme_widget", json={"title": "x", "site_id": s2.id}), 403)
    assert lou.get("/records/acme_widget").get_json()["items"][0]["title"] == "At 102"


def walk(caller, limit, sort):
    """Every page of the widget list; returns the items in order."""
    seen, after = [], None
    while True:
        query = {"limit": limit, "sort": sort, **({"after": after} if after else {})}
        page = caller.get("/records/acme_widget", query_string=query).get_json()
        seen += page["items"]
        after = page["next"]
        if after is None:
            return seen


@pytest.mark.req("SEC-05")
@pytest.mark.backends("sqlite", "postgresql")
def test_keyset_pages_and_filters(as_user, cqms_backend):
    alice = as_user("alice", "author")
    owner = get_user("alice")
    for i in range(7):
        create_record("acme_widget", owner, title=f"Widget {i % 3}")  # titles repeat
    db.session.commit()
    numbers = [r["number"] for r in walk(alice, 3, "-number")]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == 7
    for sort in ("title", "-title", "updated_at", "-created_at", "state"):
        rows = walk(alice, 2, sort)
        assert len({r["id"] for r in rows}) == 7, sort  # ties broken by id: none lost or repeated
        key = sort.removeprefix("-")
        values = [r[key] for r in rows]
        assert values == sorted(values, reverse=sort.startswith("-")), sort
    assert len(alice.get("/records/acme_widget", query_string={"q": "widget 1"}).get_json()[
        "items"]) == 2
    for bad in ({"sort": "password"}, {"colour": "red"}, {"after": "garbage"}, {"limit": 0},
                {"limit": 1000}):
        assert_problem(alice.get("/records/acme_widget", query_string=bad), 400)
    assert_problem(alice.get("/records/no_such_type"), 404)


def test_audit_endpoint_needs_permission_and_filters(as_user):
    alice = as_user("alice", "author")
    quinn = as_user("quinn", "qa_manager", "approver")  # audit.view, and reads widgets
    record = alice.post("/records/acme_widget", json={"title": "Pump"}).get_json()
    assert_problem(alice.get("/audit"), 403)
    page = quinn.get("/audit", query_string={"record": record["number"], "limit": 2}).get_json()
    assert page["items"] and page["next"]
    older = quinn.get("/audit", query_string={"record": record["number"], "after": page["next"]}
                      ).get_json()
    assert max(e["seq"] for e in older["items"]) < min(e["seq"] for e in page["items"])
    assert_problem(quinn.get("/audit", query_string={"record": "NOPE"}), 400)
    assert_problem(quinn.get("/audit", query_string={"since": "yesterday"}), 400)


@pytest.mark.req("SEC-13")
def test_personal_tokens_page(client, make_user, login, app):
    from core.testing import csrf_token

    make_user("alice", "author")
    login(client, "alice")
    page = "/account/tokens"
    refused = client.post(page, data={"csrf_token": csrf_token(client, page), "name": "CI",
                                      "days": "10", "password": "wrong-password-123"})
    assert "The password is not correct." in refused.get_data(as_text=True)
    assert get_user("alice").failed_logins == 1
    created = client.post(page, data={"csrf_token": csrf_token(client, page), "name": "CI",
                                      "days": "10", "password": DEFAULT_PASSWORD})
    text = created.get_data(as_text=True)
    secret = text.split('<code>')[1].split('</code>')[0]
    assert secret.startswith("cqms_")
    assert secret not in client.get(page).get_data(as_text=True)  # shown once
    caller = ApiCaller(app.test_client(), token=secret)
    assert caller.get("/me").get_json()["username"] == "alice"
    token_id = db.session.scalar(select(ApiToken.id))
    client.post(f"{page}/{token_id}/revoke", data={"csrf_token": csrf_token(client, page)})
    assert_problem(caller.get("/me"), 401)


@pytest.mark.req("SEC-02", "E6-10")
@pytest.mark.backends("sqlite", "postgresql")
def test_two_study_scoped_users_never_reach_each_others_records(as_user, system_actor,
                                                                cqms_backend):
    one, two = Study(code="ST-1", title="One"), Study(code="ST-2", title="Two")
    db.session.add_all([one, two])
    db.session.commit()
    ann = as_user("ann", "author", study=one)
    ben = as_user("ben", "author", study=two)
    own = ann.post("/records/acme_widget", json={"title": "Ann's", "study_id": one.id})
    assert own.status_code == 201
    assert_problem(ann.post("/records/acme_widget", json={"title": "x", "study_id": two.id}), 403)
    assert_problem(ann.post("/records/acme_widget", json={"title": "global"}), 403)
    record = own.get_json()
    url = f"/records/acme_widget/{record['id']}"
    for call in (lambda: ben.get(url), lambda: ben.get(f"{url}/audit"),
                 lambda: ben.get(f"{url}/signatures"), lambda: ben.get(f"{url}/links"),
                 lambda: ben.get(f"{url}/attachments"),
                 lambda: ben.get(f"/records/by-number/{record['number']}"),
                 lambda: ben.patch(url, json={"title": "mine"}, headers={"If-Match": '"1"'}),
                 lambda: ben.post(f"{url}/transitions/submit", json={}),
                 lambda: ben.post(f"{url}/links", json={"target": record["number"], "kind": "x"}),
                 lambda: ben.post(f"{url}/attachments", data={"file": (io.BytesIO(PDF), "a.pdf")},
                                  content_type="multipart/form-data")):
        assert_problem(call(), 404)
    assert ben.get("/records/acme_widget").get_json()["items"] == []
    assert ann.get(url).get_json()["title"] == "Ann's"  # unchanged by ben's attempts


def test_openapi_and_docs_page(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert f"{API}/records/{{type_key}}/{{record_id}}/transitions/{{name}}" in spec["paths"]
    errors = spec["paths"][f"{API}/records/{{type_key}}"]["get"]["responses"]["404"]
    assert list(errors["content"]) == ["application/problem+json"]
    page = client.get(f"{API}/docs/")
    csp = page.headers["Content-Security-Policy"]
    script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert "unsafe" not in script_src and "'nonce-" in script_src
    assert "swagger-ui-bundle.js" in page.get_data(as_text=True)
    assert client.get(f"{API}/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get(f"{API}/docs/assets/..%2Fsecret").status_code == 404


def test_my_tasks_and_team_tasks(as_user, system_actor):
    from datetime import date, timedelta

    from core import open_task

    alice = as_user("alice", "author")
    quinn = as_user("quinn", "qa_manager", "site_monitor")  # team view, and reads widgets
    bob = as_user("bob", "approver")
    owner = get_user("alice")
    record = create_record("acme_widget", owner, title="Pump")
    db.session.commit()
    open_task(record, "acme.fix", "Fix the pump", assignee=owner,
              due=date.today() - timedelta(days=2), by=owner)
    open_task(record, "acme.approve", "Approve the pump", role="approver", by=owner)
    db.session.commit()
    mine = alice.get("/tasks").get_json()["items"]
    assert [(t["kind"], t["overdue"], t["record"]["number"]) for t in mine] == [
        ("acme.fix", True, record.number)]
    assert [t["kind"] for t in bob.get("/tasks").get_json()["items"]] == ["acme.approve"]
    assert_problem(alice.get("/tasks", query_string={"assignee": "team"}), 403)
    team = quinn.get("/tasks", query_string={"assignee": "team", "overdue": "true"}).get_json()
    assert [t["kind"] for t in team["items"]] == ["acme.fix"]
    assert_problem(alice.get("/tasks", query_string={"assignee": "someone"}), 400)


@pytest.mark.req("P11-02")
def test_export_a_record_as_pdf_and_certified_copy(as_user):
    import zipfile

    alice = as_user("alice", "author")
    record = alice.post("/records/acme_widget", json={"title": "Pump"}).get_json()
    url = f"/records/acme_widget/{record['id']}/export"
    pdf = alice.get(url, query_string={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF"), pdf.get_data(as_text=True)[:300]
    copy = alice.get(url, query_string={"format": "certified-copy"})
    assert copy.status_code == 200, copy.get_json()
    assert copy.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(copy.data)).namelist()
    assert any(n.endswith(".pdf") for n in names) and any("manifest" in n for n in names)
    assert_problem(alice.get(url, query_string={"format": "docx"}), 400)
    exports = alice.get(f"/records/acme_widget/{record['id']}/audit").get_json()["items"]
    assert [e["action"] for e in exports].count("export") == 2


@pytest.mark.req("P11-10", "A11-04")
@pytest.mark.backends("sqlite", "postgresql")
def test_api_writes_name_their_client_and_invalid_payloads_write_nothing(as_user):
    alice = as_user("alice", "author")
    token = db.session.scalar(select(ApiToken))
    before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    for body in ({"title": ""}, {"title": "x", "description": 5}, {"title": "x", "id": 9},
                 {"title": "x", "study_id": 999}, ["not", "an", "object"]):
        assert_problem(alice.post("/records/acme_widget", json=body), 422)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == before
    created = alice.post("/records/acme_widget", json={"title": "Pump"}).get_json()
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_id == str(created["id"]), AuditEntry.action == "create",
        AuditEntry.entity_type.in_(["core_record", "acme_widget"]))).all()
    assert entries and {e.client for e in entries} == {f"api-token:{token.id} API token"}


SAMPLES = {"string": "Sample text", "text": "Sample text", "integer": 1, "boolean": True,
           "date": "2026-01-15", "utcdatetime": "2026-01-15T10:00:00Z"}


def references(type_key, user_id):  # type: ignore[no-untyped-def]
    """Fields of a type that must name existing rows (a sample number would name none) or
    something the system has (a configuration change names a setting)."""
    if type_key == "core_config_change":
        return {"kind": "setting", "target": "core.site_name", "proposed_value": "Round trip",
                "justification": "Round trip through the API"}
    if type_key != "training_assignment":
        return {}
    from core import audit_reason
    from plugins.training.models import TrainingRequirement

    with audit_reason("round trip set-up"):
        requirement = TrainingRequirement(code="RT-1", title="Round trip", kind="elearning")
        db.session.add(requirement)
        db.session.commit()
    return {"trainee_id": user_id, "requirement_id": requirement.id}


def test_round_trip_for_every_record_type(as_user, app, system_actor):
    """Create, read, list, find by number and change a record of every enabled type, as an
    administrator-like user holding every role, through the API alone."""
    from core.users.models import Role

    roles = [r.key for r in db.session.scalars(select(Role))]
    caller = as_user("omni", *roles)
    caller_id = db.session.scalar(select(User.id).where(User.username == "omni"))
    types = caller.get("/record-types").get_json()
    assert types, "no record type is exposed"
    ids: dict[str, int] = {}
    for rt in types:
        if rt["key"] == "audits_finding":  # raised only in an audit's fieldwork (tests/plugins/audits)
            continue
        body = {"title": f"A {rt['label']}", **references(rt["key"], caller_id)}
        if rt["key"] == "documents_version":  # a version names the document created above
            body["document_id"] = ids["documents_document"]
        for field in rt["fields"]:
            if field["required"] and not field["read_only"] and field["name"] not in body:
                offered = [c for c in field["choices"] or () if c]
                body[field["name"]] = offered[0] if offered else SAMPLES[field["type"]]
        created = caller.post(f"/records/{rt['key']}", json=body)
        assert created.status_code == 201, (rt["key"], created.get_json())
        record = created.get_json()
        ids[rt["key"]] = record["id"]
        assert record["number"].startswith(rt["number_prefix"])
        assert record["state"] == rt["initial_state"]
        url = f"/records/{rt['key']}/{record['id']}"
        assert caller.get(url).get_json()["title"] == body["title"]
        listed = caller.get(f"/records/{rt['key']}").get_json()["items"]
        assert record["id"] in [r["id"] for r in listed]
        assert caller.get(f"/records/by-number/{record['number']}").status_code == 200
        changed = caller.patch(url, json={"title": "Renamed", "reason": "Round trip"},
                               headers={"If-Match": created.headers["ETag"]})
        assert changed.status_code == 200, changed.get_json()
        assert changed.get_json()["version"] == record["version"] + 1
