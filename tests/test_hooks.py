"""Every hook of ``core/hookspecs.py`` is exercised by a test (datasette's habit), and the hooks no
other test exercises get one here: each builds an app with a throwaway plugin implementing the hook
and checks the documented behaviour through the app."""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from pathlib import Path

import click
import flask_smorest
import pytest
from flask import Blueprint, request, url_for
from kernel_plugin import TRANSITIONS, WORKFLOW, make_plugin
from sqlalchemy import func, select

from core import (
    ConflictError,
    RecordAction,
    SignatureMeaning,
    StartupError,
    Transition,
    Workflow,
    create_record,
    current_user,
    link_records,
    requires,
)
from core.audit.models import AuditEntry
from core.cli import main
from core.db import db
from core.hookspecs import hook_names, hookimpl
from core.records.models import Record, RecordLink
from core.signatures.models import Signature
from core.testing import DEFAULT_PASSWORD, csrf_token, post_with_token

TESTS = Path(__file__).resolve().parent
API = "/api/v1"
WIDGETS = "/admin/acme_widget/"


# -- the meta-test ------------------------------------------------------------------------------


def _is_fixture(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)


def code_of_tests() -> list[tuple[str, str]]:
    """(name, source with decorators) of every test function and fixture under tests/."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("test_") or _is_fixture(node):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                found.append((node.name, "\n".join(lines[start - 1:node.end_lineno])))
    return found


def test_every_hookspec_is_named_in_a_test():
    """A hook counts as tested when a test function or fixture names it (an identifier or string
    in its code, or part of a test's name); this test's own code names none."""
    code = [(name, source) for name, source in code_of_tests()
            if name != "test_every_hookspec_is_named_in_a_test"]
    assert len(code) > 100, "the scan of tests/ found too little code to judge"
    missing = [hook for hook in hook_names()
               if not any(hook in name or re.search(rf"\b{hook}\b", source)
                          for name, source in code)]
    assert not missing, (f"hooks exercised by no test or fixture under tests/: {missing}; "
                         "add a test that implements each in a throwaway plugin")


# -- helpers ------------------------------------------------------------------------------------


def token_for(client, username: str) -> dict[str, str]:
    response = client.post(f"{API}/auth/tokens",
                           json={"username": username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def new_widget(user, **values):
    values.setdefault("description", "Blue")
    widget = create_record("acme_widget", user, **values)
    db.session.commit()
    return widget


def transitions_of(record) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "transition", AuditEntry.entity_id == str(record.id))))


def with_workflow(plugin, workflow: Workflow):
    """The kernel test plugin with another workflow for ``acme_widget``."""
    plugin.register_workflows = hookimpl(lambda: [workflow])
    return plugin


# -- startup ------------------------------------------------------------------------------------


def test_seed_reference_data_adds_audited_rows_once_for_enabled_plugins(app_factory,
                                                                        temp_plugin):
    from core import Study
    from core.users.sync import seed_reference_data

    def seed_reference_data_hook():
        if Study.by_code("REF-1") is not None:
            return None
        db.session.add(Study(code="REF-1", title="Seeded reference study"))
        db.session.flush()
        return "acme: 1 study added"

    plugin = make_plugin(temp_plugin)
    plugin.seed_reference_data = hookimpl(specname="seed_reference_data")(
        seed_reference_data_hook)
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        host = app.extensions["cqms"].host
        study = Study.by_code("REF-1")
        assert study is not None  # seeded with the schema, as `cqms db upgrade` does
        entry = db.session.scalar(select(AuditEntry).where(
            AuditEntry.entity_type == "core_study", AuditEntry.entity_id == str(study.id)))
        assert entry is not None and "Reference data" in entry.reason
        assert seed_reference_data(host) == []  # nothing missing: nothing added, no summary


def test_app_ready_is_called_once_with_the_finished_app(app_factory, temp_plugin):
    calls = []

    def app_ready(app):
        rules = {rule.rule for rule in app.url_map.iter_rules()}
        calls.append((app, set(app.extensions["cqms"].registry.record_types), rules))
        app.jinja_env.filters["acme_shout"] = lambda text: f"{text.upper()}!"

    plugin = make_plugin(temp_plugin, app_ready=app_ready)
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    assert len(calls) == 1
    called_with, record_types, rules = calls[0]
    assert called_with is app
    assert "acme_widget" in record_types  # the registries are final ...
    assert {WIDGETS, f"{API}/records/<string(maxlength=64):type_key>"} <= rules  # ... and wired
    assert app.jinja_env.from_string("{{ 'ready' | acme_shout }}").render() == "READY!"

    app_factory(plugins=["acme"], extra_plugins={"acme": plugin}, schema=False,
                PLUGINS_ENABLED_BY_DEFAULT=False)
    assert len(calls) == 2  # an allowed plugin is wired even while disabled
    app_factory(plugins=[], extra_plugins={"acme": plugin}, schema=False)
    assert len(calls) == 2  # a plugin not allowed is never called


class TestRegisterApiBlueprints:
    @pytest.fixture
    def app_config(self, temp_plugin):
        blp = flask_smorest.Blueprint("acme_api", __name__, url_prefix=f"{API}/acme")

        @blp.route("/whoami")
        @requires("acme.edit")  # an API view declares its permission like any route
        def whoami():
            return {"username": current_user.username}

        plugin = make_plugin(temp_plugin, register_api_blueprints=lambda: [blp])
        return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}

    def test_register_api_blueprints_answer_under_api_v1_to_bearer_tokens_only(
            self, app, client, make_user, login, system_actor):
        make_user("alice", "author")
        anonymous = client.get(f"{API}/acme/whoami")
        assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
        assert login(client, "alice").status_code == 302
        assert client.get(f"{API}/acme/whoami").status_code == 401  # a session cookie is not enough
        headers = token_for(client, "alice")
        answer = client.get(f"{API}/acme/whoami", headers=headers)
        assert answer.status_code == 200 and answer.get_json() == {"username": "alice"}
        assert f"{API}/acme/whoami" in client.get(f"{API}/openapi.json").get_json()["paths"]

        app.extensions["cqms"].host.set_enabled("acme", False, "Hook test")
        db.session.commit()
        assert client.get(f"{API}/acme/whoami", headers=headers).status_code == 404

    def test_register_api_blueprints_names_carry_the_plugin_key(self, app_factory, temp_plugin):
        misnamed = flask_smorest.Blueprint("acme_things", __name__, url_prefix=f"{API}/acme")
        plugin = make_plugin(temp_plugin, register_api_blueprints=lambda: [misnamed])
        with pytest.raises(StartupError, match="plugin 'acme': API blueprint 'acme_things' must "
                                               "be named acme_api or acme_api_"):
            app_factory(plugins=["acme"], extra_plugins={"acme": plugin}, schema=False)


def test_register_commands_add_a_cqms_command_group(app_factory, temp_plugin, capsys):
    @click.command("count")
    def count():
        click.echo(f"{db.session.scalar(select(func.count()).select_from(Record))} records")

    plugin = make_plugin(temp_plugin, register_commands=lambda cli: cli.add_command(count))
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    main(["acme", "count"], app=app)
    assert capsys.readouterr().out == "0 records\n"


def test_load_demo_data_is_called_by_cqms_demo_with_the_demo_accounts(app_factory, temp_plugin,
                                                                      capsys, monkeypatch):
    calls = []

    def load_demo_data(users, passwords, study):
        calls.append((sorted(users), passwords["author"], study.code))
        if not db.session.scalar(select(Record).where(Record.title == "Demo widget")):
            create_record("acme_widget", users["author"], title="Demo widget", description="d")
            db.session.commit()
        return "acme: demo widget present"

    monkeypatch.setenv("CQMS_DEMO_PASSWORD", DEFAULT_PASSWORD)
    plugin = make_plugin(temp_plugin, load_demo_data=load_demo_data)
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    for _run in range(2):  # idempotent, and called on every run
        main(["demo"], app=app)
        assert "  acme: demo widget present\n" in capsys.readouterr().out
    assert len(calls) == 2
    users, password, study = calls[0]
    assert {"author", "qa", "approver"} <= set(users) and password == DEFAULT_PASSWORD
    assert study == "CQMS-DEMO-01"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Record)) == 1


# -- records, workflows and signatures ---------------------------------------------------------


QA_RELEASE = Transition("qa_release", ("in_review",), "approved", "acme.approve",
                        signature="qa_released")
RELEASE_WORKFLOW = Workflow("acme_widget", WORKFLOW.states, "draft", (*TRANSITIONS, QA_RELEASE),
                            categories=WORKFLOW.categories)
QA_RELEASED = SignatureMeaning("qa_released", "Released by QA", "QA released the widget.")


class TestRegisterSignatureMeanings:
    @pytest.fixture
    def app_config(self, temp_plugin):
        plugin = make_plugin(temp_plugin, register_signature_meanings=lambda: [QA_RELEASED])
        return {"plugins": ["acme"], "extra_plugins": {"acme": with_workflow(plugin,
                                                                             RELEASE_WORKFLOW)}}

    @pytest.mark.req("P11-15")
    def test_register_signature_meanings_sign_a_transition_and_are_shown(self, app, client,
                                                                         make_user, login):
        widget = new_widget(make_user("alice", "author"), title="Pump")
        make_user("bob", "approver")
        login(client, "alice")
        token = csrf_token(client, WIDGETS)
        client.post(f"{WIDGETS}{widget.id}/transition/submit", data={"csrf_token": token})
        client.post("/logout", data={"csrf_token": token})

        login(client, "bob")
        page = client.get(f"{WIDGETS}details/?id={widget.id}").get_data(as_text=True)
        assert "Electronic signature: <em>Released by QA</em>" in page  # the label, not the key
        page = client.post(f"{WIDGETS}{widget.id}/transition/qa_release",
                           data={"csrf_token": csrf_token(client, WIDGETS), "attest": "y",
                                 "username": "bob", "password": DEFAULT_PASSWORD},
                           follow_redirects=True)
        assert "qa_release done" in page.get_data(as_text=True)
        signature = db.session.scalar(select(Signature))
        assert (signature.meaning, signature.transition) == ("qa_released", "qa_release")
        table = re.search(r'id="signatures">(.*?)</table>', page.get_data(as_text=True), re.S)
        assert "Bob Tester (bob)" in table.group(1) and "Released by QA" in table.group(1)

        export = post_with_token(client, f"{WIDGETS}{widget.id}/certified-copy.zip")
        with zipfile.ZipFile(io.BytesIO(export.data)) as archive:
            signed = json.loads(archive.read("signatures.json"))
        assert [(s["meaning"], s["meaning_label"]) for s in signed] == [
            ("qa_released", "Released by QA")]

    def test_register_signature_meanings_are_needed_by_workflows_naming_them(self, app_factory,
                                                                            temp_plugin):
        plugin = with_workflow(make_plugin(temp_plugin), RELEASE_WORKFLOW)
        with pytest.raises(StartupError, match="transition 'qa_release' names unknown signature "
                                               "meaning 'qa_released'"):
            app_factory(plugins=["acme"], extra_plugins={"acme": plugin}, schema=False)


class TestNextRecordNumber:
    @pytest.fixture
    def app_config(self, temp_plugin):
        def next_record_number(record_type, record):
            if record.title.startswith("Plain"):
                return None  # the next implementation, here the core's counter, numbers it
            return f"ACME-{record_type.number_prefix}-{record.title.upper()}"

        plugin = make_plugin(temp_plugin, next_record_number=next_record_number)
        return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}

    def test_next_record_number_first_result_overrides_the_core_numbering(self, app, client,
                                                                          make_user):
        make_user("alice", "author")
        headers = token_for(client, "alice")

        def create(title):
            response = client.post(f"{API}/records/acme_widget", headers=headers,
                                   json={"title": title, "description": "Blue"})
            assert response.status_code == 201, response.get_json()
            return response.get_json()["number"]

        assert create("Gauge") == "ACME-WID-GAUGE"
        year = db.session.scalar(select(Record)).created_at.year
        assert create("Plain valve") == f"WID-{year}-0001"  # the core's counter was not used
        assert create("Pump") == "ACME-WID-PUMP"
        found = client.get(f"{API}/records/by-number/ACME-WID-PUMP", headers=headers)
        assert found.status_code == 200 and found.get_json()["title"] == "Pump"


class TestValidateTransition:
    @pytest.fixture
    def calls(self):
        return []

    @pytest.fixture
    def app_config(self, temp_plugin, calls):
        def validate_transition(record, transition, user):
            calls.append((record.number, transition.name, user.username))
            return ["Open actions remain."] if record.title == "Blocked" else []

        hold = temp_plugin("hold", validate_transition=validate_transition)
        return {"plugins": ["acme", "hold"],
                "extra_plugins": {"acme": make_plugin(temp_plugin), "hold": hold}}

    @pytest.mark.req("P11-08")
    @pytest.mark.backends("sqlite", "postgresql")
    def test_validate_transition_reasons_refuse_it_and_write_nothing(self, app, client, make_user,
                                                                     calls, cqms_backend):
        alice = make_user("alice", "author")
        blocked, free = new_widget(alice, title="Blocked"), new_widget(alice, title="Free")
        headers = token_for(client, "alice")
        before = db.session.scalar(select(func.count()).select_from(AuditEntry))

        refused = client.post(f"{API}/records/acme_widget/{blocked.id}/transitions/submit",
                              headers=headers, json={})
        assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
        assert "Open actions remain." in refused.get_json()["detail"]
        db.session.expire_all()
        assert (blocked.state, blocked.version) == ("draft", 1) and not transitions_of(blocked)
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == before

        done = client.post(f"{API}/records/acme_widget/{free.id}/transitions/submit",
                           headers=headers, json={})
        assert done.status_code == 200 and done.get_json()["state"] == "in_review"
        assert calls == [(blocked.number, "submit", "alice"), (free.number, "submit", "alice")]


class TestValidateLink:
    @pytest.fixture
    def app_config(self, temp_plugin):
        def validate_link(source, target, kind, user):
            return ["Retired widget."] if kind == "uses" and target.title == "Retired" else []

        plugin = make_plugin(temp_plugin, validate_link=validate_link)
        return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}

    @pytest.mark.backends("sqlite", "postgresql")
    def test_validate_link_reasons_refuse_the_link_and_write_nothing(self, app, client, make_user,
                                                                     cqms_backend):
        alice = make_user("alice", "author")
        source = new_widget(alice, title="Rig")
        retired, current = new_widget(alice, title="Retired"), new_widget(alice, title="Current")
        headers = token_for(client, "alice")
        links = f"{API}/records/acme_widget/{source.id}/links"
        refused = client.post(links, headers=headers, json={"target": retired.number,
                                                            "kind": "uses"})
        assert refused.status_code == 409 and "Retired widget." in refused.get_json()["detail"]
        assert db.session.scalar(select(func.count()).select_from(RecordLink)) == 0
        with pytest.raises(ConflictError, match="Retired widget."):
            link_records(source, retired, "uses", alice)
        db.session.rollback()

        for target, kind in ((current, "uses"), (retired, "replaces")):
            response = client.post(links, headers=headers, json={"target": target.number,
                                                                 "kind": kind})
            assert response.status_code == 201, response.get_json()
        assert db.session.scalar(select(func.count()).select_from(RecordLink)) == 2


class TestRecordPageActions:
    @pytest.fixture
    def app_config(self, temp_plugin):
        blueprint = Blueprint("acme", __name__, url_prefix="/acme")

        @blueprint.route("/label/<int:record_id>", methods=["POST"])
        @requires("acme.edit")
        def label(record_id):
            return f"label of widget {record_id}, {request.form['copies']} copies"

        def record_page_actions(record, user):
            if user.username != "alice":
                return []
            return [RecordAction("Label PDF", url_for("acme.label", record_id=record.id),
                                 "acme-label", (("copies", "2"),))]

        plugin = make_plugin(temp_plugin, register_blueprints=lambda: [blueprint],
                             record_page_actions=record_page_actions)
        return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}

    def test_record_page_actions_add_a_csrf_protected_button(self, app, client, make_user,
                                                            login):
        widget = new_widget(make_user("alice", "author"), title="Pump")
        make_user("carol", "author")
        login(client, "alice")
        page = client.get(f"{WIDGETS}details/?id={widget.id}").get_data(as_text=True)
        form = re.search(rf'<form method="post" action="/acme/label/{widget.id}"[^>]*>(.*?)</form>',
                         page, re.S)
        assert form, "no Label PDF form on the record page"
        assert '<input type="hidden" name="copies" value="2">' in form.group(1)
        assert 'id="acme-label">Label PDF</button>' in form.group(1)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.group(1)).group(1)
        pressed = client.post(f"/acme/label/{widget.id}", data={"csrf_token": token,
                                                                "copies": "2"})
        assert pressed.get_data(as_text=True) == f"label of widget {widget.id}, 2 copies"
        assert client.post(f"/acme/label/{widget.id}", data={"copies": "2"}).status_code == 400

        client.post("/logout", data={"csrf_token": token})
        login(client, "carol")  # the hook decides per user
        page = client.get(f"{WIDGETS}details/?id={widget.id}").get_data(as_text=True)
        assert "/acme/label/" not in page and 'id="acme-label"' not in page
