"""Notifications: the unique outbox key, SMTP delivery to a real local server, concurrent
deliverers, failures and bounded retries, reminder sweeps from plugins, and the in-app page."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from work_helpers import SmtpSink, closed_port, widget

from core import Reminder, StartupError, Task, ValidationError, notify, open_task
from core.audit.context import audit_context
from core.audit.models import AuditEntry
from core.db import db, utcnow
from core.notifications.models import Notification
from core.notifications.outbox import deliver_outbox, retry_delay
from core.notifications.reminders import run_reminders
from core.records.models import Record
from core.tasks.models import today
from core.testing import csrf_token
from core.users.service import system_context


@pytest.fixture
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(temp_plugin, smtp):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)},
            **smtp.config(), "PUBLIC_URL": "https://cqms.example.org"}


@pytest.fixture
def people(app, make_user, system_actor):
    return {name: make_user(name, "author") for name in ("alice", "bob", "carol")}


def events(action):
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def rows():
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


# -- the outbox key --------------------------------------------------------------------------------


@pytest.mark.req("E6-13")
@pytest.mark.backends("sqlite", "postgresql")
def test_one_notification_per_kind_record_due_and_recipient(cqms_backend, people):
    alice, bob = people["alice"], people["bob"]
    record = widget(alice)
    due = today()
    assert notify("acme.ping", alice, "Ping", "Body", record=record, due=due) is True
    assert notify("acme.ping", alice, "Ping again", "Other body", record=record, due=due) is False
    assert notify("acme.ping", bob, "Ping", "Body", record=record, due=due) is True
    assert notify("acme.ping", alice, "Ping", "Body", record=record, due=due + timedelta(1))
    assert notify("acme.pong", alice, "Pong", "Body", record=record, due=due) is True
    # Without record and due date the key still holds (NULLs would not collide in SQL).
    assert notify("acme.hello", alice, "Hello", "Body") is True
    assert notify("acme.hello", alice, "Hello", "Body") is False
    db.session.commit()
    assert len(rows()) == 5
    queued = events("notification.queued")
    assert [(e.field, e.new_value) for e in queued][:2] == [("acme.ping", "alice"),
                                                           ("acme.ping", "bob")]
    # The database itself refuses a second row with the same key.
    first = rows()[0]
    with pytest.raises(IntegrityError):
        db.session.execute(insert(Notification).values(
            dedupe_key=first.dedupe_key, kind=first.kind, recipient_id=first.recipient_id,
            subject="dup", body="", created_at=utcnow(), email_state="none", attempts=0,
            last_error=""))
    db.session.rollback()


def test_inactive_and_service_accounts_are_not_notified(people):
    carol = people["carol"]
    carol.active = False
    db.session.commit()
    assert notify("acme.ping", carol, "Ping", "Body") is False
    from core.users.service import get_user

    assert notify("acme.ping", get_user("system"), "Ping", "Body") is False
    assert rows() == []


def test_subject_is_one_line_and_kind_is_checked(people):
    assert notify("acme.ping", people["alice"], "Line one\r\nBcc: mallory@example.org", "b")
    assert rows()[0].subject == "Line one Bcc: mallory@example.org"
    with pytest.raises(ValidationError, match="kind"):
        notify("Acme Ping", people["alice"], "s", "b")
    db.session.rollback()


# -- delivery --------------------------------------------------------------------------------------


@pytest.mark.req("E6-13")
def test_delivery_sends_a_complete_message_and_audits_it(people, smtp):
    alice = people["alice"]
    record = widget(alice, "Pump")
    notify("acme.ping", alice, "Check the pump", "Please check it.", record=record,
           due=today())
    db.session.commit()
    report = deliver_outbox()
    assert (report.sent, report.retrying, report.given_up) == (1, 0, 0)
    [message] = smtp.messages
    assert message["To"] == "Alice Tester <alice@example.org>"
    assert message["From"] == "cqms@example.org"
    assert message["Subject"] == "Check the pump"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-CQMS-Notification"] == f"acme.ping|{record.id}|{today().isoformat()}|{alice.id}"
    assert message.get_payload(decode=True).decode().strip() == "Please check it."
    row = rows()[0]
    assert (row.email_state, row.attempts, row.claim_token) == ("sent", 1, None)
    assert row.sent_at is not None
    [sent] = events("notification.sent")
    assert (sent.entity_type, sent.entity_id, sent.field) == ("core_notification", str(row.id),
                                                             "acme.ping")
    assert "alice@example.org" in sent.new_value and sent.actor_name == "CQMS system (system)"
    assert deliver_outbox().sent == 0 and len(smtp.messages) == 1  # sent once


@pytest.mark.req("E6-13")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_failure_is_recorded_and_retried_later(people, smtp):
    alice = people["alice"]
    notify("acme.ping", alice, "Ping", "Body")
    db.session.commit()
    smtp.fail_next = 1
    started = utcnow()
    report = deliver_outbox(started)
    assert (report.sent, report.retrying) == (0, 1)
    row = rows()[0]
    assert (row.email_state, row.attempts) == ("pending", 1)
    assert "451" in row.last_error and "try again later" in row.last_error
    assert row.next_attempt_at == started + retry_delay(1)
    [failed] = events("notification.failed")
    assert "451" in failed.new_value and failed.reason.startswith("attempt 1 of 8; retry after")
    assert deliver_outbox(started + timedelta(minutes=5)).sent == 0  # not due yet
    assert smtp.messages == []
    assert deliver_outbox(started + timedelta(minutes=11)).sent == 1
    db.session.expire_all()
    assert (rows()[0].email_state, rows()[0].attempts, rows()[0].last_error) == ("sent", 2, "")
    assert len(smtp.messages) == 1 and len(events("notification.sent")) == 1


class TestBoundedRetries:
    @pytest.fixture
    def app_config(self, temp_plugin, smtp):
        return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)},
                **smtp.config(), "NOTIFICATION_MAX_ATTEMPTS": 3}

    def test_delivery_gives_up_after_the_configured_attempts(self, people, smtp):
        notify("acme.ping", people["alice"], "Ping", "Body")
        db.session.commit()
        smtp.fail_always = True
        moment = utcnow()
        outcomes = []
        for _ in range(5):
            moment += timedelta(hours=7)  # past the longest back-off
            report = deliver_outbox(moment)
            outcomes.append((report.retrying, report.given_up))
        assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
        row = rows()[0]
        assert (row.email_state, row.attempts, row.next_attempt_at) == ("failed", 3, None)
        assert events("notification.failed")[-1].reason == "attempt 3 of 3; given up"
        assert row.read_at is None  # still shown in the application


class TestUnreachableServer:
    @pytest.fixture
    def app_config(self, temp_plugin):
        return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)},
                "SMTP_HOST": "127.0.0.1", "SMTP_PORT": closed_port(),
                "SMTP_FROM": "cqms@example.org", "SMTP_TIMEOUT": 2}

    def test_every_message_waits_for_a_retry(self, people):
        for name in ("alice", "bob", "carol"):
            notify("acme.ping", people[name], "Ping", "Body")
        db.session.commit()
        report = deliver_outbox()
        assert (report.sent, report.retrying) == (0, 3)
        assert {(r.email_state, r.attempts) for r in rows()} == {("pending", 1)}
        assert all("ConnectionRefusedError" in r.last_error for r in rows())


class TestEmailOff:
    @pytest.fixture
    def app_config(self, temp_plugin):
        return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}

    def test_notifications_are_in_app_only(self, people):
        notify("acme.ping", people["alice"], "Ping", "Body")
        db.session.commit()
        report = deliver_outbox()
        assert not report.enabled and "e-mail off" in report.line()
        assert rows()[0].email_state == "none"


def test_a_recipient_without_address_is_in_app_only(people, smtp):
    bob = people["bob"]
    bob.email = ""
    db.session.commit()
    notify("acme.ping", bob, "Ping", "Body")
    db.session.commit()
    assert rows()[0].email_state == "none"
    assert deliver_outbox().sent == 0 and smtp.messages == []


@pytest.mark.backends("sqlite", "postgresql")
def test_concurrent_deliverers_send_each_message_once(cqms_backend, app, people, smtp):
    record = widget(people["alice"])
    for i in range(20):
        for name in ("alice", "bob", "carol"):
            notify(f"acme.batch{i:02d}", people[name], f"Batch {i}", "Body", record=record)
    db.session.commit()
    smtp.delay = 0.01  # long enough for the deliverers to overlap
    reports, errors, barrier = [], [], threading.Barrier(4)

    def deliverer() -> None:
        with app.app_context():
            ctx = system_context("pytest")
            db.session.commit()
            with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
                try:
                    barrier.wait(timeout=30)
                    reports.append(deliver_outbox(batch=5))
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(repr(exc))
            db.session.remove()

    threads = [threading.Thread(target=deliverer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    keys = smtp.keys()
    assert len(keys) == 60 and len(set(keys)) == 60  # every message, each exactly once
    assert sum(r.sent for r in reports) == 60
    assert sum(1 for r in reports if r.sent) >= 2  # the deliverers really overlapped
    db.session.expire_all()
    assert {r.email_state for r in rows()} == {"sent"}
    assert len(events("notification.sent")) == 60


@pytest.mark.backends("sqlite", "postgresql")
def test_racing_sweeps_queue_each_reminder_once(cqms_backend, app, people):
    late = today() - timedelta(days=1)
    for i in range(10):
        record = widget(people["alice"], f"W{i}")
        for name in ("alice", "bob", "carol"):
            open_task(record, "acme.fix", "Fix it", assignee=people[name], due=late)
    db.session.commit()
    results, errors, barrier = [], [], threading.Barrier(3)

    def scheduler() -> None:
        with app.app_context():
            ctx = system_context("pytest")
            db.session.commit()
            with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
                try:
                    barrier.wait(timeout=30)
                    results.extend(r.queued for r in run_reminders())
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(repr(exc))
            db.session.remove()

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sum(results) == 30
    assert len(rows()) == 30 and len(events("notification.queued")) == 30


# -- reminder sweeps -------------------------------------------------------------------------------


def test_register_reminders_is_validated_naming_the_plugin(app_factory, temp_plugin):
    def sweep(now):
        return 0

    cases = {
        "zed": ([Reminder("other.sweep", "x", sweep)], "must start with 'zed.'"),
        "zee": ([Reminder("zee.a", "x", sweep), Reminder("zee.a", "y", sweep)], "declared twice"),
        "zoo": ([Reminder("zoo.a", "x", "not callable")], "not callable"),
        "zap": (["zap.a"], "must return Reminder objects"),
    }
    for key, (declared, message) in cases.items():
        plugin = temp_plugin(key, register_reminders=lambda d=declared: d)
        with pytest.raises(StartupError, match=message) as info:
            app_factory(plugins=[key], extra_plugins={key: plugin}, schema=False)
        assert f"plugin {key!r}" in str(info.value)


class TestPluginSweeps:
    @pytest.fixture
    def app_config(self, temp_plugin, smtp):
        def remind_owners(now):
            count = 0
            for record in db.session.scalars(select(Record)):
                count += notify("zed.owner_reminder", record.owner, f"About {record.number}",
                                "Have a look.", record=record)
            return count

        def broken(now):
            notify("zed.broken", db.session.scalars(select(Record)).first().owner, "x", "y")
            raise RuntimeError("boom")

        acme = make_plugin(temp_plugin)
        zed = temp_plugin("zed", register_reminders=lambda: [
            Reminder("zed.owners", "Remind owners", remind_owners),
            Reminder("zed.broken", "Always fails", broken),
        ])
        return {"plugins": ["acme", "zed"], "extra_plugins": {"acme": acme, "zed": zed},
                **smtp.config()}

    def test_sweeps_run_in_their_own_transactions(self, people):
        widget(people["alice"], "One")
        widget(people["bob"], "Two")
        results = {r.key: r for r in run_reminders()}
        assert results["zed.owners"].line() == "zed.owners: 2 notifications queued"
        assert results["zed.broken"].line() == "zed.broken: failed: RuntimeError: boom"
        assert results["core.overdue_tasks"].queued == 0
        assert {r.kind for r in rows()} == {"zed.owner_reminder"}  # the failure rolled back
        queued = events("notification.queued")
        assert {e.reason for e in queued} == {"Reminder sweep zed.owners"}
        assert run_reminders()[1].queued == 0  # idempotent

    def test_a_disabled_plugin_is_skipped(self, app, people):
        app.extensions["cqms"].host.set_enabled("zed", False, "Not needed")
        db.session.commit()
        lines = [r.line() for r in run_reminders()]
        assert "zed.owners: skipped (plugin zed is disabled)" in lines


@pytest.mark.req("E6-13")
def test_overdue_sweep_reminds_assignees_and_role_holders_once(app, make_user, people, smtp):
    from core.studies import Site, Study

    study = Study(code="ST-1", title="Study one")
    site, other_site = (Site(study=study, code="101", name="Berlin"),
                        Site(study=study, code="102", name="Lyon"))
    db.session.add_all([study, site, other_site])
    db.session.commit()
    make_user("rita", "reviewer")
    make_user("sue", "reviewer", site=site)
    make_user("sid", "reviewer", site=other_site)
    alice = people["alice"]
    at_site = widget(alice, "Pump", study_id=study.id, site_id=site.id)
    late = today() - timedelta(days=1)
    open_task(at_site, "acme.review", "Review the pump", role="reviewer", due=late,
              action="submit")
    open_task(at_site, "acme.fix", "Fix the pump", assignee=alice, due=late)
    open_task(at_site, "acme.later", "Not yet due", assignee=alice, due=today())
    db.session.commit()
    first = {r.key: r.queued for r in run_reminders()}
    # rita and sue (not sid: other site), alice; no QA manager to tell of the periodic reviews
    assert first == {"core.overdue_records": 0, "core.overdue_tasks": 3,
                     "core.periodic_reviews": 0}
    assert {r.key: r.queued for r in run_reminders()} == {
        "core.overdue_records": 0, "core.overdue_tasks": 0, "core.periodic_reviews": 0}
    assert deliver_outbox().sent == 3
    by_to = {m["To"].split("<")[1].rstrip(">"): m for m in smtp.messages}
    assert set(by_to) == {"rita@example.org", "sue@example.org", "alice@example.org"}
    message = by_to["sue@example.org"]
    assert message["Subject"] == f"Overdue: Review the pump ({at_site.number})"
    body = message.get_payload(decode=True).decode()
    assert f"Due: {late.isoformat()}" in body and "To do: submit" in body
    assert f"https://cqms.example.org/admin/acme_widget/details/?id={at_site.id}" in body
    assert by_to["alice@example.org"]["Subject"].startswith("Overdue: Fix the pump")
    # A new due date is a new reminder; the same one never again.
    task = db.session.scalars(select(Task).where(Task.kind == "acme.fix")).one()
    task.due = late - timedelta(days=1)
    db.session.commit()
    assert run_reminders()[1].queued == 1  # [0] is core.overdue_records
    assert deliver_outbox().sent == 1 and len(smtp.messages) == 4


# -- the in-app page -------------------------------------------------------------------------------


def test_notifications_page_unread_count_and_mark_as_read(client, login, people):
    alice, bob = people["alice"], people["bob"]
    record = widget(alice, "Pump")
    notify("acme.one", alice, "First for alice", "Body one", record=record)
    notify("acme.two", alice, "Second for alice", "Body two")
    notify("acme.one", bob, "For bob only", "Body")
    db.session.commit()
    bobs = db.session.scalars(select(Notification).where(Notification.recipient_id == bob.id)).one()
    login(client, "alice")
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="unread-count">2<' in page
    page = client.get("/admin/core_notifications/").get_data(as_text=True)
    assert "First for alice" in page and "Second for alice" in page
    assert "For bob only" not in page
    assert f'href="/admin/acme_widget/details/?id={record.id}"' in page
    assert page.count("notification-unread") == 2
    first = db.session.scalars(select(Notification).where(Notification.kind == "acme.one",
                                                          Notification.recipient_id == alice.id)).one()
    token = csrf_token(client, "/admin/core_notifications/")
    assert client.post(f"/admin/core_notifications/{first.id}/read").status_code == 400  # no token
    client.post(f"/admin/core_notifications/{first.id}/read", data={"csrf_token": token})
    page = client.get("/admin/core_notifications/").get_data(as_text=True)
    assert 'id="unread-count">1<' in page and page.count("notification-unread") == 1
    # Someone else's notification cannot be touched.
    client.post(f"/admin/core_notifications/{bobs.id}/read", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Notification, bobs.id).read_at is None
    client.post("/admin/core_notifications/read-all", data={"csrf_token": token})
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="unread-count"' not in page
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.read_at.is_(None))) == 1  # bob's
