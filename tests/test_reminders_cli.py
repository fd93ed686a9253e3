"""``cqms reminders run`` and ``cqms scheduler``: summaries, exit codes, e-mail arriving once,
and a scheduler process that stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import select
from work_helpers import SmtpSink, studies, widget

from core import Reminder, open_task
from core.audit.models import AuditEntry
from core.cli import main
from core.db import db
from core.tasks.models import today


@pytest.fixture
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def sweeps():
    return []


@pytest.fixture
def app_config(temp_plugin, smtp, sweeps):
    def counting(now):
        sweeps.append(now)
        return 0

    zed = temp_plugin("zed", register_reminders=lambda: [Reminder("zed.count", "Counts", counting)])
    return {"plugins": ["acme", "zed"],
            "extra_plugins": {"acme": make_plugin(temp_plugin), "zed": zed}, **smtp.config()}


def cqms(app, capsys, *args):
    """Run ``cqms ARGS`` in-process on ``app``; returns (exit status, stdout, stderr)."""
    db.session.commit()  # the test's session must not hold the SQLite write lock
    try:
        main(list(args), app=app)
        status = 0
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    db.session.expire_all()
    return status, out, err


@pytest.fixture
def overdue(app, make_user, system_actor):
    """Three overdue reminders to send: the reviewers rita (global) and sue (site 101) for a
    role task, and alice for her own task. sid reviews another site."""
    places = studies()
    alice = make_user("alice", "author")
    make_user("rita", "reviewer")
    make_user("sue", "reviewer", site=places["101"])
    make_user("sid", "reviewer", site=places["102"])
    record = widget(alice, "Pump", study_id=places["ST-1"].id, site_id=places["101"].id)
    late = today() - timedelta(days=3)
    open_task(record, "acme.review", "Review the pump", role="reviewer", due=late)
    open_task(record, "acme.fix", "Fix the pump", assignee=alice, due=late)
    db.session.commit()
    return record


@pytest.mark.req("E6-13")
@pytest.mark.backends("sqlite", "postgresql")
def test_reminders_run_twice_sends_each_mail_once(cqms_backend, app, capsys, smtp, overdue):
    status, out, err = cqms(app, capsys, "reminders", "run")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "core.overdue_records: 0 notifications queued",
        "core.overdue_tasks: 3 notifications queued",
        "core.periodic_reviews: 0 notifications queued",  # no QA manager here
        "zed.count: 0 notifications queued",
        "outbox: 3 e-mails sent, 0 failed (will retry), 0 given up",
    ]
    status, out, _ = cqms(app, capsys, "reminders", "run")
    assert status == 0
    assert out.splitlines()[1] == "core.overdue_tasks: 0 notifications queued"
    assert out.splitlines()[-1] == "outbox: 0 e-mails sent, 0 failed (will retry), 0 given up"
    keys = smtp.keys()
    assert len(keys) == 3 and len(set(keys)) == 3
    recipients = sorted(m["To"].split("<")[1].rstrip(">") for m in smtp.messages)
    assert recipients == ["alice@example.org", "rita@example.org", "sue@example.org"]
    sent = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "notification.sent"))
    assert [e.client.startswith("cli:") for e in sent] == [True] * 3


def test_a_failing_sweep_is_reported_and_exits_1(app_factory, temp_plugin, capsys, smtp):
    def broken(now):
        raise RuntimeError("boom")

    zed = temp_plugin("zed", register_reminders=lambda: [Reminder("zed.broken", "Fails", broken)])
    app = app_factory(plugins=["zed"], extra_plugins={"zed": zed}, **smtp.config())
    with app.app_context():
        status, out, err = cqms(app, capsys, "reminders", "run")
    assert status == 1
    assert out.splitlines() == ["core.overdue_records: 0 notifications queued",
                                "core.overdue_tasks: 0 notifications queued",
                                "core.periodic_reviews: 0 notifications queued",
                                "zed.broken: failed: RuntimeError: boom",
                                "outbox: 0 e-mails sent, 0 failed (will retry), 0 given up"]
    assert err == "cqms: 1 reminder sweep(s) failed; see the lines above\n"


def test_commands_before_the_schema_exists_say_what_to_do(app_factory, capsys):
    app = app_factory(plugins=[], schema=False)
    with app.app_context():
        status, _, err = cqms(app, capsys, "reminders", "run")
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("cqms: error: ") and "run `cqms db upgrade` first" in err


def test_reminders_list_and_bad_interval(app, capsys):
    status, out, _ = cqms(app, capsys, "reminders", "list")
    assert status == 0
    assert out.splitlines() == [
        "core.overdue_records  Open records past their due date: a task for the owner, then "
        "for the escalation role  (enabled)",
        "core.overdue_tasks  Overdue open tasks: remind whoever they are for  (enabled)",
        "core.periodic_reviews  Open the audit-trail and user-access reviews when due  (enabled)",
        "zed.count  Counts  (enabled)",
    ]
    status, _, err = cqms(app, capsys, "scheduler", "--interval", "0")
    assert status == 2 and err.count("\n") == 1 and "--interval" in err
    assert "Traceback" not in err


def test_scheduler_cycles_until_sigterm(app, capsys, smtp, overdue, sweeps):
    previous = signal.getsignal(signal.SIGTERM)

    def stop_after_two_cycles() -> None:
        deadline = time.monotonic() + 60
        while len(sweeps) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_after_two_cycles)
    stopper.start()
    status, out, err = cqms(app, capsys, "scheduler", "--interval", "1")
    stopper.join()
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("scheduler: started, a cycle every 1 s")
    assert lines[-1] == f"scheduler: stopped after {len(sweeps)} cycle(s)"
    assert len(sweeps) >= 2
    assert lines[1:6] == ["core.overdue_records: 0 notifications queued",
                          "core.overdue_tasks: 3 notifications queued",
                          "core.periodic_reviews: 0 notifications queued",
                          "zed.count: 0 notifications queued",
                          "outbox: 3 e-mails sent, 0 failed (will retry), 0 given up"]
    assert lines[7] == "core.overdue_tasks: 0 notifications queued"
    assert len(smtp.messages) == 3
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers are put back


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_scheduler_process_stops_cleanly(app_factory, tmp_path, signum):
    app = app_factory(plugins=[])  # creates the schema of the database the process will use
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQMS_")}
    env.update(CQMS_ENV="testing", CQMS_PLUGINS="", CQMS_INSTANCE_PATH=str(tmp_path / "sched"),
               CQMS_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"])
    cqms_script = Path(sys.executable).parent / "cqms"
    process = subprocess.Popen([str(cqms_script), "scheduler", "--interval", "600"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout])
    reader.start()
    try:
        seen = []
        while not any(line.startswith("outbox:") for line in seen):
            try:
                seen.append(lines.get(timeout=60).rstrip("\n"))
            except queue.Empty:
                pytest.fail(f"no cycle within 60 s: {seen}")
        process.send_signal(signum)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(10)
    err = process.stderr.read()
    rest = []
    while not lines.empty():
        rest.append(lines.get().rstrip("\n"))
    assert process.returncode == 0, err
    assert seen[:2] == ["scheduler: started, a cycle every 600 s; stop with SIGTERM or SIGINT",
                        "core.overdue_records: 0 notifications queued"]
    assert rest == ["scheduler: stopped after 1 cycle(s)"]
    assert "Traceback" not in err


@pytest.mark.backends("sqlite", "postgresql")
def test_schedulers_on_several_nodes_take_turns_through_the_lease(app, sweeps, cqms_backend):
    from core.cli.reminders import LEASE, run_leased_cycle
    from core.db.locks import lease

    lines: list[str] = []
    with app.test_request_context(), lease(db.engine, LEASE) as held:  # another node's cycle
        assert held
        ran = run_leased_cycle(lines.append)
    if cqms_backend == "postgresql":
        assert (ran, sweeps) == (False, [])
        assert lines == ["scheduler: another scheduler is running this cycle; skipped"]
    else:  # one machine, one database file: nothing to share
        assert ran and len(sweeps) == 1
    lines.clear()
    with app.test_request_context():
        assert run_leased_cycle(lines.append)  # the lease was given back
    assert "outbox: 0 e-mails sent, 0 failed (will retry), 0 given up" in lines
