"""Lifecycle and request hooks reach enabled plugins only, through pluggy (issue 12, item 3).

A disabled plugin's ``record_created``, ``record_transitioned``, ``signature_applied``,
``validate_transition``, ``validate_link``, ``record_page_actions`` and dashboard widgets are
not called; enabling it again brings them back. The enabled set is still called as pluggy calls
any hook: ``tryfirst`` first, wrappers around the others. Startup declarations keep reaching
every loaded plugin.
"""

from __future__ import annotations

import warnings

import pytest
from kernel_plugin import make_plugin

import core
from core import (
    DashboardWidget,
    Permission,
    RecordAction,
    RoleTemplate,
    WorkflowError,
    attest,
    create_record,
    link_records,
    transition,
)
from core.audit.context import audit_context
from core.db import db
from core.hookspecs import hookimpl
from core.records.models import Record
from core.signatures.service import SignatureRequest
from core.testing import DEFAULT_PASSWORD
from core.users.service import system_context

WIDGETS = "/admin/acme_widget/"


def spy_plugin(temp_plugin, key: str, calls: list[tuple[str, ...]]):
    """A plugin recording each lifecycle and request hook it is called with."""

    def widget_context(user):
        calls.append((key, "dashboard", user.username))
        return {"user": user, "assignments": []}

    return temp_plugin(
        key,
        register_permissions=lambda: [Permission(f"{key}.view", "See the spy card")],
        register_roles=lambda: [RoleTemplate("author", None, (f"{key}.view",))],
        register_dashboard_widgets=lambda: [DashboardWidget(
            f"{key}_card", f"{key.title()} card", f"{key}.view", "core/widget_account.html",
            widget_context)],
        record_created=lambda record: calls.append((key, "record_created", record.title)),
        record_transitioned=lambda record, transition: calls.append(
            (key, "record_transitioned", record.title, transition.name)),
        signature_applied=lambda record, signature: calls.append(
            (key, "signature_applied", record.title, signature.meaning)),
        validate_transition=lambda record, transition: calls.append(
            (key, "validate_transition", record.title, transition.name)) or [],
        validate_link=lambda source, target, kind: calls.append(
            (key, "validate_link", source.title, target.title)) or [],
        record_page_actions=lambda record, user: calls.append(
            (key, "record_page_actions", record.title)) or [RecordAction(
                f"{key.title()} button", "/nowhere", f"{key}-button")],
        role_assignment_changed=lambda assignment: calls.append(
            (key, "role_assignment_changed", assignment.role.key)),
    )


def set_enabled(app, key: str, enabled: bool) -> None:
    """As an administrator would, in its own audited transaction."""
    ctx = system_context("pytest")
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, client=ctx.client):
        app.extensions["cqms"].host.set_enabled(key, enabled, "Hook test")
        db.session.commit()


def widget(user, title: str) -> Record:
    record = create_record("acme_widget", user, title=title, description="Blue")
    db.session.commit()
    return record


class TestDisabledPluginsHearNothing:
    @pytest.fixture
    def calls(self):
        return []

    @pytest.fixture
    def app_config(self, temp_plugin, calls):
        return {"plugins": ["acme", "spy"],
                "extra_plugins": {"acme": make_plugin(temp_plugin),
                                  "spy": spy_plugin(temp_plugin, "spy", calls)}}

    def use_everything(self, app, login, alice, bob, title: str) -> None:
        """Create, link, submit, approve with a signature, open the record page and the
        dashboard: every lifecycle and request hook the spy implements but the role grant."""
        record = widget(alice, title)
        other = widget(alice, f"{title} spare")
        link_records(record, other, "relates_to", alice)
        transition(record, "submit", alice)
        db.session.commit()
        transition(record, "approve", bob,
                   signature=SignatureRequest(password=DEFAULT_PASSWORD))
        db.session.commit()
        enabled = app.extensions["cqms"].host.is_enabled("spy")
        client = app.test_client()
        login(client, "alice")
        page = client.get(f"{WIDGETS}details/?id={record.id}").get_data(as_text=True)
        assert ('id="spy-button"' in page) == enabled
        dashboard = client.get("/admin/").get_data(as_text=True)
        assert ("Spy card" in dashboard) == enabled

    def test_a_disabled_plugins_hooks_are_not_called_and_are_again_once_enabled(
            self, app, login, make_user, calls):
        alice, bob = make_user("alice", "author"), make_user("bob", "approver")
        attest(bob, DEFAULT_PASSWORD)
        db.session.commit()
        calls.clear()  # granting their roles was heard
        self.use_everything(app, login, alice, bob, "Pump")
        heard = {call[1] for call in calls}
        assert heard == {"record_created", "validate_link", "validate_transition",
                         "record_transitioned", "signature_applied", "record_page_actions",
                         "dashboard"}
        assert ("spy", "signature_applied", "Pump", "approved") in calls

        set_enabled(app, "spy", False)
        calls.clear()
        self.use_everything(app, login, alice, bob, "Valve")
        make_user("carol", "author")  # a role granted while disabled
        assert calls == []

        set_enabled(app, "spy", True)
        self.use_everything(app, login, alice, bob, "Gauge")
        make_user("dave", "author")
        heard = {call[1] for call in calls}
        assert heard == {"record_created", "validate_link", "validate_transition",
                         "record_transitioned", "signature_applied", "record_page_actions",
                         "dashboard", "role_assignment_changed"}
        assert ("spy", "record_transitioned", "Gauge", "approve") in calls

    def test_a_disabled_plugin_cannot_veto(self, app_factory, temp_plugin, make_user):
        """Its validate_transition is not asked, so its objection no longer refuses."""
        veto = temp_plugin("veto", validate_transition=lambda record: ["Veto objects."])
        app = app_factory(plugins=["acme", "veto"],
                          extra_plugins={"acme": make_plugin(temp_plugin), "veto": veto})
        with app.app_context():
            alice = make_user("alice", "author")
            record = widget(alice, "Pump")
            with pytest.raises(WorkflowError, match="Veto objects."):
                transition(record, "submit", alice)
            db.session.rollback()
            set_enabled(app, "veto", False)
            transition(record, "submit", alice)
            db.session.commit()
            assert record.state == "in_review"

    def test_startup_declarations_reach_disabled_plugins_too(self, app, app_factory, temp_plugin,
                                                             calls):
        set_enabled(app, "spy", False)
        again = app_factory(plugins=["acme", "spy"], schema=False, extra_plugins={
            "acme": make_plugin(temp_plugin), "spy": spy_plugin(temp_plugin, "spy", calls)})
        registry = again.extensions["cqms"].registry
        assert "spy.view" in registry.permissions  # hidden at request time, declared once
        assert [key for key, _widget in registry.widgets if key == "spy"] == ["spy"]


def ordered_plugins(temp_plugin, order: list[str]):
    """Plugins ``first`` (tryfirst), ``second`` and ``third`` (plain), ``wrap`` (a wrapper) and
    ``off`` (disabled in the test) around ``validate_transition``."""

    def answering(key):
        def validate_transition(record):
            order.append(key)
            return []
        return validate_transition

    plugins = {key: temp_plugin(key) for key in ("first", "second", "third", "wrap", "off")}
    plugins["first"].validate_transition = hookimpl(tryfirst=True)(answering("first"))
    plugins["second"].validate_transition = hookimpl(answering("second"))
    plugins["third"].validate_transition = hookimpl(answering("third"))
    plugins["off"].validate_transition = hookimpl(tryfirst=True)(answering("off"))

    @hookimpl(wrapper=True)
    def validate_transition(record):
        order.append("wrap: before")
        reasons = yield
        order.append("wrap: after")
        return [*reasons, ["The wrapper objects."]] if record.title == "Wrapped" else reasons

    plugins["wrap"].validate_transition = validate_transition
    return plugins


class TestPluggyOrderIsKept:
    @pytest.fixture
    def order(self):
        return []

    @pytest.fixture
    def app_config(self, temp_plugin, order):
        plugins = ordered_plugins(temp_plugin, order)
        return {"plugins": ["acme", "first", "second", "third", "off", "wrap"],
                "extra_plugins": {"acme": make_plugin(temp_plugin), **plugins}}

    @pytest.mark.backends("sqlite", "postgresql")
    def test_tryfirst_runs_first_and_a_wrapper_wraps_the_enabled_ones(self, app, make_user,
                                                                       order, cqms_backend):
        alice = make_user("alice", "author")
        set_enabled(app, "off", False)
        record = widget(alice, "Pump")
        transition(record, "submit", alice)
        db.session.commit()
        # Pluggy's order, not the load order: tryfirst, then the latest registered first.
        assert order == ["wrap: before", "first", "third", "second", "wrap: after"]

        order.clear()
        wrapped = widget(alice, "Wrapped")
        with pytest.raises(WorkflowError, match="The wrapper objects."):
            transition(wrapped, "submit", alice)
        db.session.rollback()
        assert order == ["wrap: before", "first", "third", "second", "wrap: after"]

        set_enabled(app, "off", True)
        order.clear()
        transition(record, "reject", make_user("bob", "approver"), reason="Again")
        db.session.commit()
        assert order[:2] == ["wrap: before", "off"] and len(order) == 6


class TestTheHostsApi:
    @pytest.fixture
    def app_config(self, temp_plugin):
        return {"plugins": ["acme", "spy"],
                "extra_plugins": {"acme": make_plugin(temp_plugin),
                                  "spy": spy_plugin(temp_plugin, "spy", [])}}

    def test_hook_callers_are_cached_per_enabled_set(self, app):
        host = app.extensions["cqms"].host
        enabled = host.hook_for_enabled("record_created")
        assert enabled is host.hook_for_enabled("record_created")
        assert {i.plugin_name for i in enabled.get_hookimpls()} == {"spy"}
        set_enabled(app, "spy", False)
        disabled = host.hook_for_enabled("record_created")
        assert disabled is not enabled and disabled.get_hookimpls() == []
        assert host.hook_implemented("record_created") is False
        assert host.hook_implemented("no_such_hook") is False
        set_enabled(app, "spy", True)
        assert host.hook_implemented("record_created") is True
        with app.test_request_context():  # a request reads the enabled set once
            assert core.hook_implemented("validate_link") is True

    def test_results_by_plugin_names_each_plugin_in_load_order(self, app):
        host = app.extensions["cqms"].host
        declared = host.results_by_plugin("register_permissions")
        assert [key for key, _result in declared] == ["core", "acme", "spy"]
        assert [p.name for p in dict(declared)["spy"]] == ["spy.view"]
        set_enabled(app, "spy", False)
        assert [key for key, _ in host.results_by_plugin("register_permissions",
                                                         enabled_only=True)] == ["core", "acme"]

    def test_plugin_enabled_still_answers_with_a_deprecation_warning(self, app):
        with pytest.warns(DeprecationWarning, match=r"core.plugin_enabled is deprecated .* "
                                                    r"core.hook_implemented"):
            from core import plugin_enabled
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert plugin_enabled("spy") is True
        assert "plugin_enabled" not in core.__all__
        with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
            core.no_such_name  # noqa: B018

    def test_call_hook_reaches_enabled_plugins_only(self, app):
        set_enabled(app, "spy", False)  # its validate_link would fail on these arguments
        assert core.call_hook("validate_link", source=None, target=None, kind="x",
                              user=None) == []
