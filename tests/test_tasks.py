"""Tasks: the service (open, close, cancel, idempotence, audit), role-scoped visibility,
derived overdue, and the My tasks, dashboard and team pages through the test client."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, inspect, select
from work_helpers import studies, widget

from core import RoleTemplate, Task, ValidationError, close_tasks, open_task, tasks_for
from core.audit.context import audit_context
from core.audit.models import AuditEntry
from core.db import db
from core.records.models import Record
from core.tasks.models import today
from core.testing import csrf_token
from core.users.models import User
from core.users.service import system_context

REVIEW = "acme.review"


@pytest.fixture
def app_config(temp_plugin):
    # Tasks are listed only to those who may read their record: reviewers and managers read
    # the widgets (whose view permission is acme.edit).
    readers = temp_plugin("acmereaders", register_roles=lambda: [
        RoleTemplate(role, None, ("acme.edit",)) for role in ("reviewer", "qa_manager")])
    return {"plugins": ["acme", "acmereaders"],
            "extra_plugins": {"acme": make_plugin(temp_plugin), "acmereaders": readers}}


@pytest.fixture
def world(app, make_user, system_actor):
    """Studies, one reviewer per scope, a QA manager for ST-1, and a widget per scope with an
    open review task for the reviewer role (study and site taken from the record)."""
    places = studies()
    people = {
        "alice": make_user("alice", "author"),
        "rita": make_user("rita", "reviewer"),
        "sam": make_user("sam", "reviewer", study=places["ST-1"]),
        "sue": make_user("sue", "reviewer", site=places["101"]),
        "sid": make_user("sid", "reviewer", site=places["102"]),
        "otto": make_user("otto", "reviewer", site=places["201"]),
        "quinn": make_user("quinn", "qa_manager", study=places["ST-1"]),
    }
    alice = people["alice"]
    records = {
        "w101": widget(alice, "At Berlin", study_id=places["ST-1"].id, site_id=places["101"].id),
        "w102": widget(alice, "At Lyon", study_id=places["ST-1"].id, site_id=places["102"].id),
        "w1": widget(alice, "Study-wide", study_id=places["ST-1"].id),
        "w201": widget(alice, "At Oslo", study_id=places["ST-2"].id, site_id=places["201"].id),
        "wg": widget(alice, "Global"),
    }
    tasks = {name: open_task(rec, REVIEW, f"Review {rec.title}", role="reviewer",
                             action="submit") for name, rec in records.items()}
    db.session.commit()
    return {"places": places, "people": people, "records": records, "tasks": tasks}


def visible(user, **kwargs):
    return {t.record.title for t in db.session.scalars(tasks_for(user, **kwargs))}


def titles(world, *names):
    return {world["records"][n].title for n in names}


def monitor(user, site):
    """Give ``user`` the site monitor role at ``site`` (they then read its widgets)."""
    from flask import g

    from core.users.models import Role
    from core.users.service import assign_role

    role = db.session.scalar(select(Role).where(Role.key == "site_monitor"))
    assign_role(user, role, reason="test set-up", site=site)
    db.session.commit()
    g.pop("cqms_grants", None)  # permissions are cached per request


# -- the service ---------------------------------------------------------------------------------


@pytest.mark.req("E6-13", "P11-05")
def test_opening_is_idempotent_and_opening_and_closing_are_audited(world):
    sue, alice = world["people"]["sue"], world["people"]["alice"]
    record = world["records"]["w101"]
    due = today() + timedelta(days=5)
    task = open_task(record, "acme.approve", "Approve it", assignee=sue, due=due, action="approve")
    db.session.commit()
    again = open_task(record, "acme.approve", "Another title", assignee=sue, due=date(2030, 1, 1))
    assert again.id == task.id and again.title == "Approve it" and again.due == due
    assert task.study_id == record.study_id and task.site_id == record.site_id
    created = {e.field: e for e in db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_task", AuditEntry.entity_id == str(task.id)))}
    assert created["assignee_id"].new_value == f"sue (#{sue.id})"
    assert created["due"].new_value == due.isoformat()
    assert created["state"].new_value == "open"
    assert created["kind"].actor_name == "CQMS system (system)"
    assert "open_key" not in created  # derived, not data
    events = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "acme_widget", AuditEntry.entity_id == str(record.id),
        AuditEntry.action.like("task.%"))).all()
    assert [(e.action, e.field) for e in events] == [("task.opened", REVIEW),
                                                     ("task.opened", "acme.approve")]
    assert events[1].new_value == sue.printed_name

    assert close_tasks(record, kind="acme.approve", by=sue) == 1
    db.session.commit()
    db.session.refresh(task)
    assert (task.state, task.completed_by_id, task.open_key) == ("done", sue.id, None)
    assert task.completed_at is not None and task.completed_at.tzinfo is not None
    closed = {e.field: e for e in db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_task", AuditEntry.entity_id == str(task.id),
        AuditEntry.action == "update"))}
    assert (closed["state"].old_value, closed["state"].new_value) == ("open", "done")
    assert closed["state"].actor_id == sue.id and closed["state"].reason == "Task done"
    done = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "task.done")).one()
    assert (done.entity_id, done.field, done.actor_name) == (str(record.id), "acme.approve",
                                                             sue.printed_name)
    assert close_tasks(record, kind="acme.approve", by=sue) == 0
    # Once closed, the same work can be asked for again: a new task.
    reopened = open_task(record, "acme.approve", "Approve it again", assignee=sue, by=alice)
    db.session.commit()
    assert reopened.id != task.id and reopened.created_by_id == alice.id


def test_close_filters_by_kind_assignee_and_role_and_cancels(world):
    people, record = world["people"], world["records"]["w1"]
    for name in ("sam", "rita"):
        open_task(record, "acme.sign", f"Sign ({name})", assignee=people[name])
    db.session.commit()
    assert close_tasks(record, kind="acme.sign", assignee=people["sam"], by=people["sam"]) == 1
    db.session.commit()
    still_open = db.session.scalars(select(Task).where(Task.record_id == record.id,
                                                       Task.state == "open")).all()
    assert sorted(t.title for t in still_open) == ["Review Study-wide", "Sign (rita)"]
    assert close_tasks(record, role="reviewer", by=people["alice"], state="cancelled",
                       reason="Review no longer needed") == 1
    db.session.commit()
    cancelled = db.session.scalars(select(Task).where(Task.state == "cancelled")).one()
    assert cancelled.kind == REVIEW and cancelled.completed_by_id == people["alice"].id
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "task.cancelled")).one()
    assert entry.reason == "Review no longer needed"
    assert close_tasks(record, by=people["alice"]) == 1  # the rest: rita's
    with pytest.raises(ValidationError, match="state"):
        close_tasks(record, by=people["alice"], state="open")
    db.session.rollback()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({}, "assignee"),
    ({"role": "reviewer", "assignee": "SUE"}, "assignee"),
    ({"role": "no_such_role"}, "role"),
    ({"role": "reviewer", "kind": "Bad Kind"}, "kind"),
    ({"role": "reviewer", "title": "  "}, "title"),
    ({"role": "reviewer", "due": datetime(2030, 1, 1)}, "due"),
    ({"role": "reviewer", "action": "//evil.example/x"}, "action"),
    ({"role": "reviewer", "action": "javascript:alert(1)"}, "action"),
    ({"role": "reviewer", "study": "ST-2", "site": "101"}, "site"),
])
def test_open_refuses_bad_input_and_writes_nothing(world, kwargs, field):
    places = world["places"]
    kwargs = dict(kwargs)
    if kwargs.get("assignee") == "SUE":
        kwargs["assignee"] = world["people"]["sue"]
    for scope in ("study", "site"):
        if scope in kwargs:
            kwargs[scope] = places[kwargs[scope]]
    kind = kwargs.pop("kind", "acme.other")
    title = kwargs.pop("title", "Something")
    before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(ValidationError) as info:
        open_task(world["records"]["wg"], kind, title, **kwargs)
    assert field in info.value.errors
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_a_deactivated_user_cannot_be_given_a_task(world):
    sid = world["people"]["sid"]
    sid.active = False
    db.session.commit()
    with pytest.raises(ValidationError, match="not an active user"):
        open_task(world["records"]["w102"], "acme.other", "x", assignee=sid)
    db.session.rollback()
    assert visible(sid) == set()


@pytest.mark.req("E6-16")
def test_overdue_is_derived_from_the_due_date_never_stored(world):
    sue, record = world["people"]["sue"], world["records"]["w101"]
    yesterday, now = today() - timedelta(days=1), today()
    late = open_task(record, "acme.late", "Late", assignee=sue, due=yesterday)
    due_today = open_task(record, "acme.today", "Today", assignee=sue, due=now)
    undated = open_task(record, "acme.undated", "Undated", assignee=sue)
    # An aware datetime counts as its UTC date (23:30 at UTC-2 is the next day in UTC).
    shifted = open_task(record, "acme.shifted", "Shifted", assignee=sue,
                        due=datetime(2020, 1, 1, 23, 30, tzinfo=UTC) + timedelta(hours=2))
    db.session.commit()
    assert shifted.due == date(2020, 1, 2)
    assert (late.overdue, due_today.overdue, undated.overdue, shifted.overdue) == (
        True, False, False, True)
    assert "overdue" not in {c.name for c in inspect(Task).columns}
    in_sql = set(db.session.scalars(select(Task.kind).where(Task.overdue)))
    assert in_sql == {"acme.late", "acme.shifted"}
    close_tasks(record, kind="acme.late", by=sue)
    db.session.commit()
    assert late.overdue is False  # done work is never overdue
    assert set(db.session.scalars(select(Task.kind).where(Task.overdue))) == {"acme.shifted"}


# -- visibility ------------------------------------------------------------------------------------


@pytest.mark.req("SEC-02")
def test_role_tasks_are_visible_to_holders_whose_scope_covers_them(world):
    p = world["people"]
    assert visible(p["rita"]) == titles(world, "w101", "w102", "w1", "w201", "wg")
    assert visible(p["sam"]) == titles(world, "w101", "w102", "w1", "wg")
    # A site-scoped reviewer sees their site's and unscoped tasks, never another site's.
    assert visible(p["sue"]) == titles(world, "w101", "wg")
    assert visible(p["sid"]) == titles(world, "w102", "wg")
    assert visible(p["otto"]) == titles(world, "w201", "wg")
    assert visible(p["alice"]) == set()  # not a reviewer
    assert visible(p["quinn"]) == set()  # a manager's own list holds only their own work


@pytest.mark.req("SEC-02")
def test_direct_assignment_team_view_and_revoked_roles(world):
    p, records = world["people"], world["records"]
    open_task(records["w201"], "acme.approve", "Approve Oslo", assignee=p["sue"])
    db.session.commit()
    # A task on a record she may not read stays hidden until she may read it.
    assert visible(p["sue"]) == titles(world, "w101", "wg")
    monitor(p["sue"], world["places"]["201"])
    assert visible(p["sue"]) == titles(world, "w101", "wg", "w201")
    assert "At Oslo" not in visible(p["sid"])
    # The team view of a manager scoped to ST-1: everything in ST-1 plus unscoped tasks.
    team = visible(p["quinn"], include_team=True)
    assert team == titles(world, "w101", "w102", "w1", "wg")
    assert visible(p["sue"], include_team=True) == visible(p["sue"])  # no team permission
    # A revoked assignment hides the role's tasks at once.
    assignment = p["sue"].active_assignments()[0]
    assignment.revoked_at = datetime.now(UTC)
    db.session.commit()
    db.session.expire_all()
    assert visible(p["sue"]) == {"At Oslo"}


def test_recipients_are_active_holders_in_scope(world):
    from core.tasks.service import recipients

    p, tasks = world["people"], world["tasks"]
    names = lambda task: {u.username for u in recipients(task)}  # noqa: E731
    assert names(tasks["w101"]) == {"rita", "sam", "sue"}
    assert names(tasks["w201"]) == {"rita", "otto"}
    assert names(tasks["wg"]) == {"rita", "sam", "sue", "sid", "otto"}
    p["sam"].active = False
    db.session.commit()
    assert names(tasks["w101"]) == {"rita", "sue"}


def test_tasks_of_a_disabled_plugin_are_hidden(world, app):
    rita = world["people"]["rita"]
    assert len(visible(rita)) == 5
    app.extensions["cqms"].host.set_enabled("acme", False, "Not used this year")
    db.session.commit()
    assert visible(rita) == set()


@pytest.mark.backends("sqlite", "postgresql")
def test_racing_openers_make_one_task(cqms_backend, app, make_user, system_actor):
    alice = make_user("alice", "author")
    sue = make_user("sue", "reviewer")
    record_ids = [widget(alice, f"W{i}").id for i in range(5)]
    sue_id = sue.id
    db.session.commit()  # the test's own session holds no transaction (SQLite write lock)
    errors, barrier = [], threading.Barrier(4)

    def opener() -> None:
        with app.app_context():
            ctx = system_context("pytest")
            db.session.commit()  # hold no SQLite write lock while waiting for the others
            with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
                for record_id in record_ids:
                    try:
                        barrier.wait(timeout=30)
                        open_task(db.session.get(Record, record_id), REVIEW, "Review",
                                  assignee=db.session.get(User, sue_id))
                        db.session.commit()
                    except Exception as exc:  # noqa: BLE001 - reported below
                        db.session.rollback()
                        errors.append(repr(exc))
            db.session.remove()

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    counts = db.session.execute(select(Task.record_id, func.count()).group_by(Task.record_id)).all()
    assert sorted(n for _id, n in counts) == [1] * 5
    opened = db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "task.opened"))
    assert opened == 5


# -- pages -----------------------------------------------------------------------------------------


@pytest.fixture
def sue_tasks(world):
    """sue: an overdue review at her site, a global one due in three days, and a direct
    approval task without due date on an ST-2 record (she monitors its site, so reads it)."""
    t, p, records = world["tasks"], world["people"], world["records"]
    monitor(p["sue"], world["places"]["201"])
    t["w101"].due = today() - timedelta(days=2)
    t["wg"].due = today() + timedelta(days=3)
    t["w102"].due = today() - timedelta(days=9)  # overdue, but not sue's
    direct = open_task(records["w201"], "acme.approve", "Approve Oslo", assignee=p["sue"],
                       action="approve")
    db.session.commit()
    return direct


def page_of(client, url):
    response = client.get(url)
    return response.status_code, response.get_data(as_text=True)


def test_sign_in_lands_on_the_dashboard_with_my_tasks_first(client, login, world, sue_tasks):
    response = login(client, "sue")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    status, page = page_of(client, "/admin/")
    assert status == 200
    top = page.index('id="my-tasks"')
    assert top < page.index('id="widget-core_account"')
    records = world["records"]
    assert records["w101"].number in page and records["w201"].number in page
    assert records["w102"].number not in page
    assert page.index(records["w101"].number) < page.index(records["wg"].number)  # overdue first
    assert f'id="task-{world["tasks"]["w101"].id}-overdue"' in page
    assert "core_team_tasks" not in page  # sue has no team view


@pytest.mark.req("SEC-02")
def test_my_tasks_page_links_scope_and_filters(client, login, world, sue_tasks):
    login(client, "sue")
    records, tasks = world["records"], world["tasks"]
    status, page = page_of(client, "/admin/core_tasks/")
    assert status == 200
    assert {records[n].number in page for n in ("w101", "wg", "w201")} == {True}
    assert records["w102"].number not in page and records["w1"].number not in page
    detail = f'/admin/acme_widget/details/?id={records["w101"].id}'
    assert f'href="{detail}"' in page  # the record page
    assert f'href="{detail}#transition-submit"' in page  # the action's form on it
    oslo = f'/admin/acme_widget/details/?id={records["w201"].id}'
    assert f'href="{oslo}#transition-approve"' in page and ">Approve</a>" in page

    def shown(query):
        status, text = page_of(client, "/admin/core_tasks/?" + query)
        assert status == 200, text
        return {name for name in ("w101", "wg", "w201") if records[name].number in text}

    assert shown("due=overdue") == {"w101"}
    assert shown("due=week") == {"w101", "wg"}
    assert shown("due=none") == {"w201"}
    assert shown("kind=acme.approve") == {"w201"}
    assert shown(f"study={world['places']['ST-1'].id}") == {"w101"}
    assert shown(f"study={world['places']['ST-2'].id}&kind={REVIEW}") == set()
    for bad in ("sort=title", "due=tomorrow", "study=abc", "after=x"):
        status, text = page_of(client, "/admin/core_tasks/?" + bad)
        assert status == 400 and 'id="task-filter-error"' in text, bad
    assert tasks["w101"].id  # the filter form offers only what sue can see
    _, page = page_of(client, "/admin/core_tasks/")
    assert "ST-2" in page and '<option value="acme.approve"' in page


@pytest.mark.req("SEC-02", "P11-04")
def test_team_view_is_for_managers_and_scoped(client, login, world, sue_tasks):
    records = world["records"]
    login(client, "sue")
    assert client.get("/admin/core_team_tasks/").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, "quinn")
    status, page = page_of(client, "/admin/")
    assert 'href="/admin/core_team_tasks/"' in page
    status, page = page_of(client, "/admin/core_team_tasks/")
    assert status == 200
    shown = {n for n, r in records.items() if r.number in page}
    assert shown == {"w101", "w102", "w1", "wg"}  # ST-1 and unscoped; not ST-2
    assert "Reviewer" in page  # who it is assigned to
    status, page = page_of(client, "/admin/core_team_tasks/?due=overdue")
    assert {n for n, r in records.items() if r.number in page} == {"w101", "w102"}
    status, page = page_of(client, "/admin/core_tasks/")
    assert "No open tasks." in page  # quinn's own list


@pytest.mark.req("E6-13")
def test_task_events_show_in_the_record_history(client, login, world):
    record, sue = world["records"]["w101"], world["people"]["sue"]
    close_tasks(record, kind=REVIEW, by=sue)
    db.session.commit()
    login(client, "alice")
    _, page = page_of(client, f"/admin/acme_widget/details/?id={record.id}")
    history = page.split('id="history"', 1)[1]
    assert "<td>Task opened</td>" in history and "<td>Task done</td>" in history
    assert f"<td>{sue.printed_name}</td>" in history


def test_task_list_pages_by_keyset(client, login, world):
    sue, record = world["people"]["sue"], world["records"]["w101"]
    for i in range(55):
        open_task(record, f"acme.step{i:02d}", f"Step {i:02d}", assignee=sue,
                  due=today() + timedelta(days=i))
    db.session.commit()
    login(client, "sue")
    _, first = page_of(client, "/admin/core_tasks/?kind=")
    assert first.count('<tr id="task-') == 50
    marker = first.split('id="tasks-next" href="')[1].split('"')[0].replace("&amp;", "&")
    _, second = page_of(client, marker)
    # 55 steps + sue's two role tasks: 57 rows over two pages, none repeated.
    ids = lambda text: set(text.split('<tr id="task-')[1:])  # noqa: E731
    assert second.count('<tr id="task-') == 7 and not (ids(first) & ids(second))
    assert 'id="tasks-next"' not in second


# -- a workflow opening and closing tasks through the hooks -------------------------------------


class TestWorkflowHooks:
    """The pattern the plugin author guide shows: tasks opened and closed in
    ``record_transitioned`` (after the transition's transaction committed)."""

    @pytest.fixture
    def app_config(self, temp_plugin):
        def record_transitioned(record, transition, user):
            if transition.name == "submit":
                open_task(record, "acme.approve", f"Approve {record.number}", role="approver",
                          due=today() + timedelta(days=10), action="approve", by=user)
            elif transition.name in ("approve", "reject"):
                close_tasks(record, kind="acme.approve", by=user)
            db.session.commit()

        plugin = make_plugin(temp_plugin, record_transitioned=record_transitioned)
        return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}

    def test_submit_opens_and_approval_closes_the_task(self, app, make_user):
        from core import SignatureRequest, attest, transition
        from core.testing import DEFAULT_PASSWORD

        alice = make_user("alice", "author")
        bob = make_user("bob", "approver")
        attest(bob, DEFAULT_PASSWORD)
        db.session.commit()
        record = widget(alice, "Pump")
        transition(record, "submit", alice)
        db.session.commit()
        [task] = db.session.scalars(tasks_for(bob)).all()
        assert (task.kind, task.action, task.created_by_id) == ("acme.approve", "approve", alice.id)
        assert db.session.scalars(tasks_for(alice)).all() == []
        transition(record, "approve", bob, signature=SignatureRequest(password=DEFAULT_PASSWORD))
        db.session.commit()
        db.session.expire_all()
        assert db.session.scalars(tasks_for(bob)).all() == []
        task = db.session.get(Task, task.id)
        assert (task.state, task.completed_by_id) == ("done", bob.id)
