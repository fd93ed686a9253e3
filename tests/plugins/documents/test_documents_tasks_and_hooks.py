"""Review and approval tasks, the ``documents_version_effective`` hook the plugin offers, and
the core abilities it needs (plugin hookspecs, transition effects)."""

from __future__ import annotations

import types

import pluggy
import pytest
from documents_helpers import attach, draft, people, sig, step, to_effective
from sqlalchemy import select

from core import PermissionDenied, StartupError, Task, db
from plugins.documents.services import revise, seed_types


def open_tasks(record):  # type: ignore[no-untyped-def]
    return [(t.kind, t.role.key if t.role_id else None, t.action) for t in db.session.scalars(
        select(Task).where(Task.record_id == record.id, Task.state == "open").order_by(Task.id))]


def closed_tasks(record):  # type: ignore[no-untyped-def]
    return [(t.kind, t.state) for t in db.session.scalars(
        select(Task).where(Task.record_id == record.id, Task.state != "open").order_by(Task.id))]


@pytest.fixture
def observed(temp_plugin):
    """A plugin listening to the documents plugin's own hook (as training will)."""
    calls = []

    def documents_version_effective(document, version):
        calls.append((document.number, version.number, version.state, document.state,
                      db.session.get(type(version), version.id).state))

    plugin = temp_plugin("watcher", REQUIRES=("documents",),
                         documents_version_effective=documents_version_effective)
    return plugin, calls


@pytest.fixture
def app(app_factory, observed):
    plugin, _calls = observed
    app = app_factory(plugins=["documents", "watcher"], extra_plugins={"watcher": plugin})
    with app.app_context():
        yield app


@pytest.fixture
def team(app, make_user, system_actor):
    seed_types()
    db.session.commit()
    return people(make_user)


def test_every_step_a_version_waits_for_has_a_task_with_a_due_date(team, make_user):
    author, reviewer, approver, qa = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    assert open_tasks(version) == [("documents.review", "reviewer", "review")]
    step(version, "review", reviewer, signature=sig())
    assert open_tasks(version) == [("documents.approve", "approver", "approve")]
    assert closed_tasks(version) == [("documents.review", "done")]
    step(version, "approve", approver, signature=sig())
    assert open_tasks(version) == [("documents.make_effective", "qa_manager", "make_effective")]
    assert closed_tasks(version) == [("documents.review", "done"), ("documents.approve", "done")]
    dues = {t.kind: t.due for t in db.session.scalars(select(Task).where(
        Task.record_id == version.id))}
    assert None not in dues.values(), dues  # review, approval and making effective
    step(version, "make_effective", qa)
    assert open_tasks(version) == []
    assert closed_tasks(version)[-1] == ("documents.make_effective", "done")


def test_review_tasks_stay_open_until_every_required_review_is_signed(team):
    author, reviewer, approver, qa = team
    from core import update_record

    _document, version = draft(author)
    update_record(version, author, expected_version=version.version, reviews_required=2)
    db.session.commit()
    attach(version, author)
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    assert open_tasks(version) == [("documents.review", "reviewer", "review")]
    step(version, "review", qa, signature=sig())
    assert open_tasks(version) == [("documents.approve", "approver", "approve")]


def test_reject_cancels_the_open_tasks(team):
    author, reviewer, *_ = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    step(version, "reject", reviewer, reason="Unclear")
    assert open_tasks(version) == []
    assert closed_tasks(version) == [("documents.review", "cancelled")]


def test_the_effective_hook_runs_after_commit_for_each_new_effective_version(team, observed):
    _plugin, calls = observed
    author, reviewer, approver, qa = team
    document, first = draft(author)
    to_effective(first, author, reviewer, approver, qa)
    assert calls == [("SOP-0001", "SOP-0001-v1.0", "effective", "effective", "effective")]
    second = revise(document, author, major=True, change_summary="s", change_reason="r")
    db.session.commit()
    to_effective(second, author, reviewer, approver, qa)
    assert calls[1] == ("SOP-0001", "SOP-0001-v2.0", "effective", "effective", "effective")
    assert len(calls) == 2


def test_a_failed_make_effective_calls_no_hook(team, observed):
    _plugin, calls = observed
    author, reviewer, approver, qa = team
    _document, version = draft(author)
    attach(version, author)
    step(version, "submit", author)
    step(version, "review", reviewer, signature=sig())
    step(version, "approve", approver, signature=sig())
    with pytest.raises(PermissionDenied, match="documents.manage"):
        step(version, "make_effective", approver)
    db.session.rollback()
    assert calls == []
    step(version, "make_effective", qa)
    assert [c[1] for c in calls] == ["SOP-0001-v1.0"]


# -- the core abilities the plugin relies on ------------------------------------------------------


def test_a_plugin_hookspec_must_carry_the_plugin_key(app_factory, temp_plugin):
    spec = pluggy.HookspecMarker("cqms")
    holder = types.SimpleNamespace(other_thing=spec(lambda record: None))
    plugin = temp_plugin("acme", register_hookspecs=lambda: [holder])
    with pytest.raises(StartupError, match="hookspecs must be named 'acme_\\*'"):
        app_factory(plugins=["acme"], extra_plugins={"acme": plugin})


def test_an_implementation_of_an_unknown_plugin_hook_stops_startup(app_factory, temp_plugin):
    plugin = temp_plugin("watcher", documents_version_effective=lambda document, version: None)
    with pytest.raises(StartupError, match="watcher"):
        app_factory(plugins=["watcher"], extra_plugins={"watcher": plugin})


def test_effects_run_in_the_transition_transaction(app_factory, temp_plugin, make_user):
    """A failing effect rolls the whole transition back (state, signature and audit)."""
    from kernel_plugin import TRANSITIONS, WORKFLOW, AcmeWidget

    from core import (
        Permission,
        RecordType,
        RoleTemplate,
        Transition,
        Workflow,
        create_record,
        transition,
    )

    def boom(record, user):
        record.description = "changed by the effect"
        db.session.flush()
        raise RuntimeError("effect failed")

    failing = Transition("submit", ("draft",), "in_review", "acme.edit", effects=(boom,))
    workflow = Workflow("acme_widget", ("draft", "in_review", "approved", "retired"), "draft",
                        (failing, *TRANSITIONS[1:]), categories=WORKFLOW.categories)
    plugin = temp_plugin(
        "acme", register_models=lambda: [AcmeWidget],
        register_permissions=lambda: [Permission("acme.edit", "Edit"),
                                      Permission("acme.approve", "Approve")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",))],
        register_workflows=lambda: [workflow],
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), view_permission="acme.edit",
            manage_permission="acme.edit")])
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        alice = make_user("alice", "author")
        widget = create_record("acme_widget", alice, title="W", description="d")
        db.session.commit()
        with pytest.raises(RuntimeError):
            transition(widget, "submit", alice)
        db.session.rollback()
        db.session.expire_all()
        assert (widget.state, widget.description) == ("draft", "d")
