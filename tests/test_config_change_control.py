"""Configuration change control (P11-13, A11-10): every change of a setting, a role's
permissions or a plugin's enabled state is a numbered configuration version with actor, UTC
time, diff and reason; with approval required a change is proposed, approved with an
e-signature by someone else, then activated; exports name the version in force."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from core import (
    ConflictError,
    PermissionDenied,
    SignatureRequest,
    ValidationError,
    WorkflowError,
    attest,
    create_record,
    transition,
)
from core.audit.context import acting_as, audit_reason
from core.audit.models import AuditEntry
from core.config_changes.models import ConfigurationChange
from core.config_changes.roles import set_role_permissions
from core.config_changes.workflow import KEY
from core.config_versions import ConfigVersion, active_version
from core.db import db
from core.exports.bundle import build_certified_copy
from core.exports.pdf import render_record_pdf
from core.settings import get_setting, set_setting
from core.testing import DEFAULT_PASSWORD, csrf_token, login, post_with_token
from core.testing_api import ApiCaller, ok, problem
from core.users.models import Role

pytestmark = [pytest.mark.plugins("capa"), pytest.mark.req("P11-13", "A11-10")]
APPROVAL = "core.config_approval_required"
BOTH = pytest.mark.backends("sqlite", "postgresql")


def _versions() -> list[ConfigVersion]:
    return list(db.session.scalars(select(ConfigVersion).order_by(ConfigVersion.number)))


def _require_approval(user) -> None:
    with acting_as(user), audit_reason("Change control starts"):
        set_setting(APPROVAL, True)
    db.session.commit()


def _propose(user, kind: str, target: str, value: str, why: str = "Needed for the trial"):
    change = create_record(KEY, user, title=f"Change {target}", kind=kind, target=target,
                           proposed_value=value, justification=why)
    db.session.commit()
    return change


def _sign(change, user, name: str = "approve"):
    transition(change, name, user, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()


def _settings_form(app, client, reason: str, **changes: str) -> dict[str, str]:
    """The core settings form as shown (every value in force), with ``changes`` typed in."""
    specs = app.extensions["cqms"].registry.settings_of("core")
    shown = {s.key: (str(get_setting(s.key)).lower() if s.type == "bool"
                     else str(get_setting(s.key))) for s in specs if s.admin_editable}
    return {**shown, **{key.replace("__", "."): value for key, value in changes.items()},
            "csrf_token": csrf_token(client, "/admin/core_settings/"), "reason": reason}


@pytest.fixture
def people(make_user):
    sam = make_user("sam", "system_admin", full_name="Sam Admin")
    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    attest(quinn, DEFAULT_PASSWORD)
    db.session.commit()
    return sam, quinn


@BOTH
def test_each_change_is_a_new_version_with_actor_time_diff_and_reason(
        app, client, people, run_cqms):
    sam, _quinn = people
    assert active_version().number == 0
    login(client, "sam")
    form = _settings_form(app, client, "Name the trial site", core__site_name="Trial QMS")
    assert client.post("/admin/core_settings/", data=form).status_code == 302
    with acting_as(sam), audit_reason("Inspectors read the audit trail only"):
        role = Role.by_key("inspector")
        set_role_permissions(role, set(role.permission_names) - {"core.users.view"})
    db.session.commit()
    assert run_cqms("plugins", "disable", "capa", "--reason", "CAPA moves to paper")[0] == 0

    first, second, third = _versions()
    assert (first.number, first.actor_name, first.kind, first.target, first.reason) == (
        1, "Sam Admin (sam)", "setting", "core.site_name", "Name the trial site")
    assert first.diff == '"CQMS" -> "Trial QMS"' and first.at.tzinfo is not None
    assert (second.actor_id, second.target, second.diff, second.reason) == (
        sam.id, "inspector", "-core.users.view", "Inspectors read the audit trail only")
    assert (third.kind, third.target, third.diff, third.reason, third.actor_name) == (
        "plugin", "capa", "enabled -> disabled", "CAPA moves to paper", "CQMS system (system)")
    assert len({first.digest, second.digest, third.digest}) == 3
    assert active_version().number == 3 and active_version().digest == third.digest
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_config_version")).all()
    assert {e.reason for e in entries} >= {"Name the trial site", "CAPA moves to paper"}
    page = client.get("/admin/core_config_versions/").get_data(as_text=True)
    assert "configuration version 3" in page.lower() and "-core.users.view" in page
    unchanged = client.post("/admin/core_settings/", data=_settings_form(app, client, "again"))
    assert unchanged.status_code == 302 and len(_versions()) == 3  # nothing changed: no version
    assert run_cqms("audit", "verify")[0] == 0  # versions are audited rows like any other


@BOTH
def test_with_approval_required_direct_changes_are_refused_everywhere(
        app, client, people, run_cqms):
    sam, _quinn = people
    _require_approval(sam)
    with acting_as(sam), audit_reason("try"), pytest.raises(ConflictError, match="propose a change"):
        set_setting("core.site_name", "Other")
    db.session.rollback()
    with acting_as(sam), audit_reason("try"), pytest.raises(ConflictError, match="propose"):
        set_role_permissions(Role.by_key("author"), {"core.audit.view"})
    db.session.rollback()
    status, _out, err = run_cqms("plugins", "disable", "capa", "--reason", "paper")
    assert status == 2 and "propose a change" in err
    assert app.extensions["cqms"].host.is_enabled("capa")

    login(client, "sam")
    page = client.get("/admin/core_settings/").get_data(as_text=True)
    assert "propose a change" in page and "/admin/core_config_change/new/" in page
    answer = client.post("/admin/core_settings/", follow_redirects=True, data=_settings_form(
        app, client, "rename", core__site_name="Other"))
    assert "Nothing was saved" in answer.get_data(as_text=True)
    assert get_setting("core.site_name") == "CQMS" and get_setting(APPROVAL) is True
    plugins = client.get("/admin/core_plugins/").get_data(as_text=True)
    assert "propose a change" in plugins and 'id="disable-capa"' not in plugins
    author = Role.by_key("author")
    edit = f"/admin/core_roles/edit/?id={author.id}"
    kept = client.post(edit, follow_redirects=True, data={
        "csrf_token": csrf_token(client, edit), "label": author.label, "description": "",
        "permissions": [*author.permission_names, "core.audit.view"], "reason": "wider"})
    assert "propose a change" in kept.get_data(as_text=True)
    db.session.expire_all()
    assert "core.audit.view" not in Role.by_key("author").permission_names
    refused = client.post("/admin/core_plugins/capa/disable", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/admin/core_plugins/"), "reason": "paper"})
    assert "propose a change" in refused.get_data(as_text=True)
    assert app.extensions["cqms"].host.is_enabled("capa")
    assert [v.target for v in _versions()] == [APPROVAL]  # only the switch itself


@BOTH
def test_a_change_is_proposed_approved_by_someone_else_then_activated(app, people, make_user):
    sam, quinn = people
    _require_approval(sam)
    change = _propose(sam, "role", "author", "+core.audit.view", "Authors check their trail")
    assert (change.number.startswith("CFG-"), change.state) == (True, "proposed")
    assert json.loads(change.new_value) == sorted(
        {*Role.by_key("author").permission_names, "core.audit.view"})

    olga = make_user("olga", "qa_manager", "system_admin")  # may approve, but proposes here
    attest(olga, DEFAULT_PASSWORD)
    own = _propose(olga, "setting", "core.site_name", "Trial QMS")
    with pytest.raises(WorkflowError):
        _sign(own, olga)  # the proposer cannot approve their own change
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        _sign(change, sam)  # a system administrator cannot approve at all
    db.session.rollback()
    with pytest.raises(WorkflowError):
        transition(change, "activate", sam)  # not approved yet
    db.session.rollback()

    _sign(change, quinn)
    assert change.state == "approved" and "core.audit.view" not in Role.by_key(
        "author").permission_names  # approved is not yet in force
    transition(change, "activate", sam)
    db.session.commit()
    assert change.state == "activated"
    assert "core.audit.view" in Role.by_key("author").permission_names
    latest = _versions()[-1]
    assert (latest.number, latest.change_id, latest.actor_name, latest.diff) == (
        change.activated_version, change.id, "Sam Admin (sam)", "+core.audit.view")
    assert latest.reason == f"{change.number}: Authors check their trail"


@BOTH
def test_a_stale_proposal_is_refused_and_activation_is_all_or_nothing(app, people):
    sam, quinn = people
    stale = _propose(sam, "setting", "core.site_name", "Trial QMS")
    with acting_as(sam), audit_reason("Renamed meanwhile"):
        set_setting("core.site_name", "Another name")  # approval not required yet
    db.session.commit()
    with pytest.raises(WorkflowError, match="changed since .* was proposed"):
        _sign(stale, quinn)
    db.session.rollback()

    _require_approval(sam)
    plugin = _propose(sam, "plugin", "capa", "disabled")
    other = _propose(sam, "plugin", "capa", "disabled")
    _sign(plugin, quinn)
    _sign(other, quinn)
    transition(plugin, "activate", sam)
    db.session.commit()
    assert not app.extensions["cqms"].host.is_enabled("capa")
    before = len(_versions())
    with pytest.raises(WorkflowError, match="changed since"):
        transition(other, "activate", sam)  # capa was disabled by the first one
    db.session.rollback()
    assert other.state == "approved" and len(_versions()) == before


@BOTH
def test_a_proposal_names_what_is_wrong_with_it(app, people):
    sam, _quinn = people
    cases = [
        (("setting", "core.nothing", "1"), "target"),
        (("setting", "core.access_review_days", "many"), "proposed_value"),
        (("setting", "core.site_name", "CQMS"), "proposed_value"),  # no change
        (("role", "ghost", "core.audit.view"), "target"),
        (("role", "author", "+core.no_such"), "proposed_value"),
        (("plugin", "core", "disabled"), "target"),
        (("plugin", "capa", "maybe"), "proposed_value"),
        (("everything", "capa", "x"), "kind"),
    ]
    for (kind, target, value), field in cases:
        with pytest.raises(ValidationError) as caught:
            _propose(sam, kind, target, value)
        db.session.rollback()
        assert field in caught.value.errors, (kind, target, value)
    with pytest.raises(ValidationError) as caught:
        _propose(sam, "setting", "core.site_name", "New", why=" ")
    db.session.rollback()
    assert "justification" in caught.value.errors


@BOTH
def test_the_proposal_form_and_the_record_page_work_in_the_admin(app, client, people):
    _sam, _quinn = people
    login(client, "sam")
    token = csrf_token(client, "/admin/core_config_change/new/")
    response = client.post("/admin/core_config_change/new/", data={
        "csrf_token": token, "title": "Longer audit review period", "kind": "setting",
        "target": "core.audit_review_days", "proposed_value": "45",
        "justification": "Monthly is enough", "reason": "new proposal"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert _versions() == []  # proposed is not in force
    proposal = db.session.scalars(select(ConfigurationChange)).one()
    assert (proposal.base_value, proposal.new_value, proposal.state) == ("30", "45", "proposed")
    page = client.get(f"/admin/core_config_change/details/?id={proposal.id}")
    assert page.status_code == 200 and "Monthly is enough" in page.get_data(as_text=True)


@BOTH
def test_exports_name_the_configuration_version_in_force(app, client, people):
    sam, quinn = people
    _require_approval(sam)
    change = _propose(sam, "setting", "core.site_name", "Trial QMS")
    _sign(change, quinn)
    transition(change, "activate", sam)
    db.session.commit()
    active = active_version()
    assert active.number == 2
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(
        render_record_pdf(change, quinn).data)).pages)
    assert re.search(rf"configuration version 2 \({active.digest[:8]}\)", " ".join(text.split()))
    copy = build_certified_copy(change, quinn)
    with zipfile.ZipFile(io.BytesIO(copy.data)) as archive:
        record = json.loads(archive.read("record.json"))
        manifest = json.loads(archive.read("manifest.json"))
    assert record["configuration_version"]["number"] == 2
    assert manifest["configuration_version"]["digest"] == active.digest
    login(client, "quinn")
    csv = post_with_token(client, "/admin/core_audit/export.csv")
    assert csv.status_code == 200 and csv.headers["X-CQMS-Configuration-Version"] == active.label
    export = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
    assert export.new_value.endswith(f"; {active.label}")  # the export's audit entry names it


@BOTH
def test_the_api_proposes_approves_and_activates_and_the_cli_lists_the_versions(
        app, client, people, run_cqms):
    sam, quinn = people
    _require_approval(sam)
    as_sam, as_quinn = ApiCaller(client, "sam"), ApiCaller(client, "quinn")
    url = "/records/core_config_change"
    proposal = {"title": "Training settings", "kind": "setting",
                "target": "core.inactive_account_days", "justification": "Shorter inactivity"}
    problem(as_sam.post(url, json={**proposal, "proposed_value": "ninety"}), 422,
            "proposed_value")
    created = ok(as_sam.post(url, json={**proposal, "proposed_value": "60"}), 201)
    record = f"{url}/{created['id']}/transitions"
    problem(as_sam.post(f"{record}/approve", json={
        "signature": {"password": DEFAULT_PASSWORD}}), 403)
    ok(as_quinn.post(f"{record}/approve", json={"signature": {"password": DEFAULT_PASSWORD}}))
    assert get_setting("core.inactive_account_days") == 90
    assert ok(as_sam.post(f"{record}/activate", json={}))["state"] == "activated"
    db.session.expire_all()
    assert get_setting("core.inactive_account_days") == 60

    status, out, _err = run_cqms("config", "versions")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"In force: {active_version().label}"
    assert lines[1].startswith("2  ") and "core.inactive_account_days  90 -> 60" in lines[1]
    assert "Shorter inactivity" in lines[1] and "Sam Admin" in lines[1]
    login(client, "quinn")
    row = re.search(r'<tr id="config-version-2">(.*?)</tr>', client.get(
        "/admin/core_config_versions/").get_data(as_text=True), re.S)
    assert row and created["number"] in row[1] and "90 -&gt; 60" in row[1]
