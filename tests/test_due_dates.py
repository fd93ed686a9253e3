"""Due dates and overdue in the core (issue 12 item 8): a record type names its due-date
column; the sweep opens one task per due date for the owner of an open record past due and
escalates once; lists, filters and record pages show it; ``add_months`` clamps month ends."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from flask import current_app
from kernel_plugin import LINK_KINDS, WORKFLOW
from sqlalchemy import Date, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from core import (
    Permission,
    Record,
    RecordType,
    RoleTemplate,
    SignatureRequest,
    StartupError,
    Task,
    add_months,
    attest,
    create_record,
    due_text,
    is_overdue,
    transition,
    update_record,
    utcnow,
)
from core.cli.context import system_principal
from core.db import db
from core.due import ESCALATED, OVERDUE, due_of, overdue_clause, overdue_records
from core.notifications.reminders import run_reminders
from core.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.backends("sqlite", "postgresql")


class AcmeAction(Record):
    __tablename__ = "acme_action"
    __mapper_args__ = {"polymorphic_identity": "acme_action"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    due_on: Mapped[date | None] = mapped_column(Date)
    check_on: Mapped[date | None] = mapped_column(Date)  # due once approved (due_by_state)


def _plugin(temp_plugin, **declared):  # type: ignore[no-untyped-def]
    workflow = WORKFLOW.__class__(  # the kernel workflow under this type's key
        "acme_action", WORKFLOW.states, WORKFLOW.initial, WORKFLOW.transitions,
        categories=WORKFLOW.categories)
    values = {"due_field": "due_on", "escalate_to_role": "approver", "escalate_after_days": 3,
              "due_by_state": {"approved": "check_on"}, **declared}
    return temp_plugin(
        "acme",
        register_models=lambda: [AcmeAction],
        register_permissions=lambda: [Permission("acme.edit", "Edit"),
                                      Permission("acme.approve", "Approve")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",)),
                                RoleTemplate("approver", None, ("acme.edit", "acme.approve"))],
        register_workflows=lambda: [workflow],
        register_link_kinds=lambda: [k.__class__(k.key, k.label, k.inverse_label)
                                     for k in LINK_KINDS],
        register_record_types=lambda: [RecordType(
            "acme_action", "Action", AcmeAction, "ACT", "acme_action",
            controlled_fields=("description", "due_on", "check_on"), view_permission="acme.edit",
            manage_permission="acme.edit", **values)],
    )


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    return {"plugins": ["acme"], "extra_plugins": {"acme": _plugin(temp_plugin)}}


@pytest.fixture
def people(app, make_user):  # type: ignore[no-untyped-def]
    return make_user("alice", "author"), make_user("bob", "approver")


def _action(owner, due, submit=True):  # type: ignore[no-untyped-def]
    action = create_record("acme_action", owner, title="Fix the seal", description="d",
                           due_on=due)
    if submit:
        transition(action, "submit", owner)
    db.session.commit()
    return action


def _tasks(action, kind):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.scalars(select(Task).where(Task.record_id == action.id,
                                                 Task.kind == kind).order_by(Task.id)).all()


def test_the_sweep_opens_one_task_per_due_date_and_escalates_once(people):
    alice, _ = people
    today = utcnow().date()
    late = _action(alice, today - timedelta(days=1))
    draft = _action(alice, today - timedelta(days=9), submit=False)  # not open: left alone
    assert is_overdue(late) and not is_overdue(draft)
    now = utcnow()
    assert overdue_records(now) == 0  # it opens tasks; core.overdue_tasks sends the reminders
    overdue_records(now)
    [task] = _tasks(late, OVERDUE)  # once per due date
    assert task.assignee_id == alice.id and task.due == late.due_on
    assert _tasks(draft, OVERDUE) == []
    overdue_records(now + timedelta(days=2))
    assert _tasks(late, ESCALATED) == []  # three days late: not yet
    overdue_records(now + timedelta(days=3))  # four days late: escalated
    overdue_records(now + timedelta(days=5))
    [escalated] = _tasks(late, ESCALATED)
    assert escalated.role.key == "approver" and "4 days overdue" in escalated.title

    late = db.session.get(AcmeAction, late.id)
    update_record(late, alice, expected_version=late.version, reason="Agreed new date",
                  due_on=today + timedelta(days=10))
    db.session.commit()
    overdue_records(now)
    assert {t.state for t in _tasks(late, OVERDUE) + _tasks(late, ESCALATED)} == {"done"}
    late = db.session.get(AcmeAction, late.id)
    update_record(late, alice, expected_version=late.version, reason="Slipped again",
                  due_on=today - timedelta(days=2))
    db.session.commit()
    overdue_records(now)  # a new cycle for the new due date
    assert [t.state for t in _tasks(late, OVERDUE)] == ["done", "open"]
    with system_principal():
        assert run_reminders(now)[1].line() == "core.overdue_tasks: 1 notification queued"


def test_closed_records_and_a_disabled_plugins_records_get_no_overdue_task(app, people):
    alice, bob = people
    today, now = utcnow().date(), utcnow()
    closed = _action(alice, today - timedelta(days=5))
    attest(bob, DEFAULT_PASSWORD)
    transition(closed, "approve", bob, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    transition(closed, "retire", bob, reason="Superseded",
               signature=SignatureRequest(password=DEFAULT_PASSWORD))
    late = _action(alice, today - timedelta(days=5))
    db.session.commit()
    overdue_records(now)
    assert _tasks(closed, OVERDUE) == [] and not is_overdue(closed)
    [task] = _tasks(late, OVERDUE)
    transition(db.session.get(AcmeAction, late.id), "reject", bob, reason="Redo")  # -> draft
    db.session.commit()
    overdue_records(now)  # no longer in an open state: its task is done
    assert [t.state for t in _tasks(late, OVERDUE)] == ["done"]

    disabled = _action(alice, today - timedelta(days=5))
    with system_principal():
        app.extensions["cqms"].host.set_enabled("acme", False, "Paused")
        db.session.commit()
    overdue_records(now + timedelta(days=30))
    assert _tasks(disabled, OVERDUE) == [] and _tasks(disabled, ESCALATED) == []


def _token(client, username):  # type: ignore[no-untyped-def]
    answer = client.post("/api/v1/auth/tokens", json={"username": username,
                                                      "password": DEFAULT_PASSWORD})
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def test_lists_filters_and_the_record_page_show_due_and_overdue(people, client, login):
    alice, _ = people
    today = utcnow().date()
    late = _action(alice, today - timedelta(days=4))
    soon = _action(alice, today + timedelta(days=2))
    headers = _token(client, "alice")
    listed = client.get("/api/v1/records/acme_action", query_string={"overdue": "true"},
                        headers=headers).get_json()
    assert [r["number"] for r in listed["items"]] == [late.number]
    others = client.get("/api/v1/records/acme_action", query_string={"overdue": "false"},
                        headers=headers).get_json()
    assert [r["number"] for r in others["items"]] == [soon.number]
    login(client, "alice")
    page = client.get(f"/admin/acme_action/details/?id={late.id}").get_data(as_text=True)
    assert f"Due {late.due_on.isoformat()} (overdue by 4 days)" in page
    page = client.get(f"/admin/acme_action/details/?id={soon.id}").get_data(as_text=True)
    assert "(in 2 days)" in page
    listing = client.get("/admin/acme_action/").get_data(as_text=True)
    assert "overdue by 4 days" in listing


@pytest.mark.parametrize("day, months, expected", [
    (date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)), (date(2026, 5, 15), -6, date(2025, 11, 15)),
    (date(2026, 3, 31), 12, date(2027, 3, 31)),
])
def test_add_months_clamps_to_the_end_of_shorter_months(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize("declared, message", [
    ({"due_field": "description"}, "not a date column"),
    ({"escalate_to_role": "nobody"}, "unknown role 'nobody'"),
    ({"due_by_state": {"approved": "description"}}, "not a date column"),
    ({"due_by_state": {"nowhere": "check_on"}}, "its state is unknown"),
    ({"due_field": None, "escalate_to_role": None}, "has no due_field"),
])
def test_bad_due_declarations_stop_start_up(app_factory, temp_plugin, declared, message):
    with pytest.raises(StartupError, match=message):
        app_factory(plugins=["acme"], extra_plugins={"acme": _plugin(temp_plugin, **declared)})


def test_datetime_due_dates_compare_by_day(people):
    alice, _ = people
    action = _action(alice, utcnow().date())
    assert not is_overdue(action)
    assert is_overdue(action, today=utcnow().date() + timedelta(days=1))
    assert isinstance(utcnow(), datetime)


def test_what_is_due_follows_the_state_when_declared_per_state(people):
    """``due_by_state``: once approved the check date is due, not the action's due date."""
    alice, bob = people
    today, now = utcnow().date(), utcnow()
    action = create_record("acme_action", alice, title="Fix the seal", description="d",
                           due_on=today - timedelta(days=3), check_on=today + timedelta(days=10))
    transition(action, "submit", alice)
    db.session.commit()
    assert is_overdue(action) and due_of(action) == today - timedelta(days=3)
    with system_principal():
        overdue_records(now)
        db.session.commit()
    assert [t.state for t in _tasks(action, OVERDUE)] == ["open"]

    attest(bob, DEFAULT_PASSWORD)
    transition(action, "approve", bob, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    assert due_of(action) == today + timedelta(days=10) and not is_overdue(action)
    assert due_text(action) == f"Due {(today + timedelta(days=10)).isoformat()} (in 10 days)"
    listed = db.session.scalars(select(AcmeAction.id).where(
        overdue_clause(current_app.extensions["cqms"].registry.record_types["acme_action"],
                       today + timedelta(days=11)))).all()
    assert listed == [action.id]  # past its check date, not its old due date
    with system_principal():
        overdue_records(now)  # no longer overdue: its task is closed
        db.session.commit()
    assert [t.state for t in _tasks(action, OVERDUE)] == ["done"]
