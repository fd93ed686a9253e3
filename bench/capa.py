"""Quality events and CAPAs (``python -m bench.capa``): the event list, the CAPA board, the
dashboard with its two CAPA cards and the event trend API on 1,000 and on 100,000 quality events
(with a fifth as many CAPAs), SQLite and, when CQMS_TEST_POSTGRES_URL is set, PostgreSQL.
Target (issue set "event list and CAPA board at 100k events: first page time"): every page well
under 1 s at 100,000 events, the first pages about as fast as at 1,000.

The data is what the app would write, bulk-inserted with Core statements (no audit entries:
this measures reads): 3 studies x 4 sites; events of every seeded category, severity and event
state, reported over the last 24 months, a tenth global (no study), some study-wide, the rest
at a site; CAPAs in every CAPA state, each addressing one event (same category and scope), with
1-4 actions (completed as their state implies, some overdue) and effectiveness checks (some
overdue). Each figure is the median of ``ROUNDS`` rounds, as a global QA manager and as a site
monitor of one site: the event list's first page (``/admin/capa_event/``), the CAPA board, the
dashboard (``/admin/``) and its two CAPA cards called directly, and ``GET /api/v1/capa/trend``
by category and by site with a bearer token. Prints a table with the ratios large/small and the
SQL statements per call, and writes bench/results/capa.json. ``CQMS_BENCH_CAPA_PROFILE=1`` also
prints a cProfile summary of the slowest call at the large size.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select

from bench import backends, build_app
from bench.kernel import RESULTS

SIZES = tuple(int(n) for n in os.environ.get("CQMS_BENCH_CAPA_SIZES", "1000,100000").split(","))
# ^ quality events; CAPAs: a fifth as many
CAPAS_PER_EVENT = 5
ROUNDS = 7
BATCH = 5_000
STUDIES = 3
SITES_PER_STUDY = 4
COUNTRIES = ("DE", "FR", "ES", "IT")
OWNERS = 60  # people who report events and own CAPAs and actions
MONTHS = 24
# Category mix (keys of the seeded list; a key not named here weighs 2).
CATEGORY_WEIGHTS = {"deviation": 30, "protocol_deviation": 25, "complaint": 6,
                    "gcp_noncompliance": 5, "audit_finding": 10, "system_incident": 5,
                    "system_issue": 12, "potential_issue": 5, "other": 2}
SEVERITIES = (("minor", 70), ("major", 25), ("critical", 5))
PROCESS_AREAS = ("", "informed_consent", "eligibility", "ip_handling", "safety_reporting",
                 "data_management", "monitoring", "computerised_systems", "document_control",
                 "training", "vendor_management", "other")
ROOT_CAUSES = ("procedure_unclear", "procedure_not_followed", "training_gap", "resourcing",
               "communication", "system_defect", "vendor", "design", "human_error")
# Event states by age of the report: recent ones still open, old ones mostly closed.
EVENT_STATES = (
    (30, (("reported", 25), ("contained", 20), ("investigating", 30), ("investigated", 10),
          ("closed", 10), ("cancelled", 5))),
    (120, (("reported", 3), ("contained", 7), ("investigating", 15), ("investigated", 15),
           ("closed", 55), ("cancelled", 5))),
    (None, (("investigating", 2), ("investigated", 3), ("closed", 90), ("cancelled", 5))),
)
EVENT_VERSION = {"reported": 1, "contained": 2, "investigating": 3, "investigated": 5,
                 "closed": 6, "cancelled": 3}
# CAPA states: share, and (min, max) days since creation.
CAPA_STATES = (("planning", 10, (0, 120)), ("impact_verified", 5, (5, 150)),
               ("implementation", 20, (10, 300)), ("effectiveness_check", 10, (60, 400)),
               ("effective", 4, (90, 500)), ("closed", 42, (30, 720)),
               ("superseded", 2, (90, 720)), ("cancelled", 7, (0, 720)))
CAPA_VERSION = {"planning": 2, "impact_verified": 3, "implementation": 4,
                "effectiveness_check": 5, "effective": 6, "closed": 7, "superseded": 6,
                "cancelled": 3}
PRIORITY_DAYS = (("high", 30, 20), ("medium", 60, 50), ("low", 90, 30))  # key, due days, share
ACTION_KINDS = (("correction", "Correction"), ("corrective", "Corrective action"),
                ("preventive", "Preventive action"))
VIEWERS = (("qa", "bench-qa", "qa_manager"), ("site", "bench-site", "site_monitor"))
CALLS = ("list", "board", "dashboard", "capa_card", "events_card", "trend_category",
         "trend_site")
SLOW_MS = 1_000


def _hash(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _insert(table: Any, rows: list[dict[str, Any]]) -> None:
    from core import db

    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(table), rows[start:start + BATCH])


def _pick(rng: random.Random, pairs: Any) -> Any:
    keys, weights = zip(*pairs, strict=True)
    return rng.choices(keys, weights)[0]


def _record(record_id: int, type_: str, number: str, title: str, state: str, owner: int,
            created: datetime, updated: datetime, study_id: int | None, site_id: int | None,
            version: int) -> dict[str, Any]:
    return {"id": record_id, "type": type_, "number": number, "title": title[:300],
            "state": state, "owner_id": owner, "study_id": study_id, "site_id": site_id,
            "version": version, "content_hash": _hash(type_, number, state, version),
            "attachments_digest": "", "created_at": created, "created_by_id": owner,
            "updated_at": updated, "updated_by_id": owner}


def _viewers(site_id: int) -> dict[str, int]:
    """A QA manager (global grant) and a site monitor of one site, made through the app's own
    services."""
    from core import Site, db
    from core.audit.context import audit_context
    from core.testing import DEFAULT_PASSWORD
    from core.users.models import Role
    from core.users.service import assign_role, create_user, system_context

    ctx = system_context("bench")
    found = {}
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
        for key, username, role_key in VIEWERS:
            user = create_user(username, f"Bench {key}", "", DEFAULT_PASSWORD)
            role = db.session.scalar(select(Role).where(Role.key == role_key))
            assign_role(user, role, reason="bench",
                        site=db.session.get(Site, site_id) if key == "site" else None)
            found[key] = user.id
    db.session.commit()
    return found


def _categories() -> list[tuple[str, str]]:
    """The active event categories: seeded by the schema set-up (``seed_reference_data``);
    seeded here, as the app would, when they are missing."""
    from core import db
    from core.audit.context import audit_context
    from core.users.service import system_context
    from plugins.capa import queries, reference

    if not queries.category_choices():
        ctx = system_context("bench")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
            reference.seed()
        db.session.commit()
    found = queries.category_choices()
    assert len(found) >= len(reference.CATEGORIES), found
    return found


def _fill(app, events: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The data set; returns facts about it (counts, the viewers, the fill time)."""
    from core import Record, Site, Study, User, db
    from core.db.engine import refresh_statistics
    from core.records.models import Counter, RecordLink
    from plugins.capa.models import Capa, CapaAction, QualityEvent
    from plugins.capa.queries import ADDRESSES

    rng = random.Random(11)
    started = time.perf_counter()
    with app.app_context():
        categories = _categories()
        now = datetime.now(UTC).replace(microsecond=0)
        today = now.date()
        studies = [{"id": n, "code": f"BENCH-{n:02d}", "title": f"Bench study {n}",
                    "description": "", "active": True, "created_at": now}
                   for n in range(1, STUDIES + 1)]
        sites = [{"id": (s - 1) * SITES_PER_STUDY + k, "study_id": s, "code": f"{k:03d}",
                  "name": f"Site {k} of study {s}", "active": True, "created_at": now,
                  "country": COUNTRIES[k % len(COUNTRIES)]}
                 for s in range(1, STUDIES + 1) for k in range(1, SITES_PER_STUDY + 1)]
        _insert(Study.__table__, studies)
        _insert(Site.__table__, sites)
        db.session.commit()
        viewers = _viewers(sites[0]["id"])
        first_user = db.session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 0
        owners = [first_user + n for n in range(1, OWNERS + 1)]
        _insert(User.__table__, [
            {"id": user_id, "username": f"owner{n:03d}", "full_name": f"Owner {n}",
             "email": f"owner{n}@example.org", "active": True, "is_service": False,
             "must_change_password": False, "failed_logins": 0, "created_at": now}
            for n, user_id in enumerate(owners, 1)])
        next_id = db.session.scalar(select(Record.id).order_by(Record.id.desc()).limit(1)) or 0
        category_keys = [key for key, _label in categories]
        category_mix = [(key, CATEGORY_WEIGHTS.get(key, 2)) for key in category_keys]
        labels = dict(categories)

        def scope() -> tuple[int | None, int | None]:
            roll = rng.random()
            if roll < 0.10:
                return None, None
            if roll < 0.25:
                return rng.randint(1, STUDIES), None
            site = rng.choice(sites)
            return site["study_id"], site["id"]

        # Quality events.
        records: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        serials: dict[tuple[str, int], int] = {}
        event_facts = []  # (id, category, study, site, reported_at) for the CAPAs to address
        for n in range(events):
            next_id += 1
            age = rng.random() * MONTHS * 30.4
            reported = now - timedelta(days=age)
            state = _pick(rng, next(mix for limit, mix in EVENT_STATES
                                    if limit is None or age < limit))
            category = _pick(rng, category_mix)
            severity = _pick(rng, SEVERITIES)
            study_id, site_id = scope()
            owner = rng.choice(owners)
            significant = severity != "minor" and rng.random() < 0.4
            serious = significant and rng.random() < 0.15
            investigated = state in ("investigated", "closed") and (
                significant or rng.random() < 0.7)
            contained = state != "reported" and (state != "cancelled" or rng.random() < 0.5)
            done = min(age, rng.uniform(2, 60)) if state in ("closed", "cancelled") else \
                min(age, rng.uniform(0, 10))
            serials[("QE", reported.year)] = serials.get(("QE", reported.year), 0) + 1
            number = f"QE-{reported.year}-{serials[('QE', reported.year)]:04d}"
            records.append(_record(next_id, "capa_event", number,
                                   f"{labels[category]} {n + 1}: "
                                   f"{rng.choice(PROCESS_AREAS) or 'general'} issue",
                                   state, owner, reported, reported + timedelta(days=done),
                                   study_id, site_id, EVENT_VERSION[state]))
            rows.append({
                "id": next_id, "category": category,
                "importance": (rng.choice(("important", "not_important"))
                               if category == "protocol_deviation" else ""),
                "description": "What happened, where and who found it.",
                "occurred_on": (reported - timedelta(days=rng.randint(0, 5))).date(),
                "reported_at": reported, "process_area": rng.choice(PROCESS_AREAS),
                "severity": severity, "significant": significant, "serious": serious,
                "due_date": reported.date() + timedelta(days=30),
                "containment": "Stopped and corrected at once." if contained else "",
                "contained_at": reported + timedelta(hours=rng.randint(1, 72)) if contained
                else None,
                "similar_found": "none found", "similar_review": "none" if contained else "",
                "rca_method": rng.choice(("five_whys", "fishbone")) if investigated else "",
                "root_cause_key": rng.choice(ROOT_CAUSES) if investigated else "",
                "root_cause": "Found by the investigation." if investigated else "",
                "capa_needed": ("yes" if significant or rng.random() < 0.3 else "no")
                if investigated else "",
                "no_capa_rationale": "", "notification": (
                    "Notified the IRB/IEC." if serious and state == "closed" else ""),
                "no_notification_rationale": ""})
            if investigated:
                event_facts.append((next_id, category, study_id, site_id, reported))
        _insert(Record.__table__, records)
        _insert(QualityEvent.__table__, rows)

        # CAPAs, their actions, and the event each addresses.
        records, rows = [], []
        actions: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        states = [(state, share) for state, share, _days in CAPA_STATES]
        ages = {state: days for state, _share, days in CAPA_STATES}
        for n in range(events // CAPAS_PER_EVENT):
            next_id += 1
            state = _pick(rng, states)
            low, high = ages[state]
            created = now - timedelta(days=rng.uniform(low, high))
            event_id, category, study_id, site_id, _reported = rng.choice(event_facts)
            priority, due_days = _pick(rng, [((k, d), s) for k, d, s in PRIORITY_DAYS])
            owner = rng.choice(owners)
            due = created.date() + timedelta(days=due_days)
            plan: list[str] = []
            finished = created
            for k in range(rng.randint(1, 4)):
                kind, words = ACTION_KINDS[k % len(ACTION_KINDS)]
                action_owner = rng.choice(owners)
                action_due = created.date() + timedelta(days=rng.randint(14, due_days + 30))
                if state in ("effectiveness_check", "effective", "closed", "superseded"):
                    completed = min(now, created + timedelta(days=rng.uniform(5, 60)))
                elif state == "implementation" and rng.random() < 0.5:
                    completed = min(now, created + timedelta(days=rng.uniform(1, 40)))
                else:
                    completed = None  # to do: overdue when its due date has passed
                finished = max(finished, completed or finished)
                actions.append({"record_id": next_id, "created_by_id": owner,
                                "created_at": created, "kind": kind,
                                "description": f"Action {k + 1} of CAPA {n + 1}",
                                "owner_id": action_owner, "due_date": action_due,
                                "completed_at": completed,
                                "completed_by_id": action_owner if completed else None,
                                "evidence": "Done, see the file." if completed else "",
                                "result_record_id": None})
                plan.append(f"{k + 1}. {words}: Action {k + 1} of CAPA {n + 1} (owner Owner "
                            f"{owners.index(action_owner) + 1}, due {action_due.isoformat()})")
            checked = state in ("effectiveness_check", "effective", "closed", "superseded")
            check_due = (finished + timedelta(days=rng.randint(30, 120))).date() \
                if checked else None
            closed_after = rng.uniform(20, 240) if state in (
                "closed", "superseded", "cancelled") else rng.uniform(0, 20)
            updated = min(now, max(finished, created + timedelta(days=closed_after)))
            serials[("CAPA", created.year)] = serials.get(("CAPA", created.year), 0) + 1
            number = f"CAPA-{created.year}-{serials[('CAPA', created.year)]:04d}"
            records.append(_record(next_id, "capa_capa", number,
                                   f"Stop {labels[category].lower()} recurring ({n + 1})",
                                   state, owner, created, updated, study_id, site_id,
                                   CAPA_VERSION[state]))
            rows.append({
                "id": next_id, "category": category,
                "problem_statement": "The problem, its extent and its effects.",
                "priority": priority, "due_date": due, "action_plan": "\n".join(plan),
                "impact_assessment": "" if state == "planning" else "No impact on safety.",
                "check_criteria": "No recurrence in 3 months." if state not in (
                    "planning", "cancelled") else "",
                "check_due_date": check_due,
                "check_result": "No recurrence." if state in (
                    "effective", "closed", "superseded") else "",
                "check_outcome": {"effective": "effective", "closed": "effective",
                                  "superseded": "not_effective"}.get(state, "")})
            links.append({"source_id": next_id, "target_id": event_id, "kind": ADDRESSES,
                          "created_at": created, "created_by_id": owner})
        _insert(Record.__table__, records)
        _insert(Capa.__table__, rows)
        _insert(CapaAction.__table__, actions)
        _insert(RecordLink.__table__, links)
        _insert(Counter.__table__, [
            {"record_type": {"QE": "capa_event", "CAPA": "capa_capa"}[prefix],
             "period": str(year), "value": value}
            for (prefix, year), value in sorted(serials.items())])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.connection().exec_driver_sql("ANALYZE")  # planner statistics
        else:  # what the scheduler's cycle and `cqms db upgrade` do on SQLite
            refresh_statistics(db.session.connection())
        db.session.commit()
        capa_states = [r["state"] for r in records]
        in_implementation = {r["id"] for r in records if r["state"] == "implementation"}
        overdue = sum(1 for a in actions if a["completed_at"] is None
                      and a["due_date"] < today and a["record_id"] in in_implementation)
    return {"events": events, "capas": len(rows), "actions": len(actions),
            "overdue_actions": overdue,
            "open_capas": sum(s not in ("closed", "superseded", "cancelled")
                              for s in capa_states),
            "categories": len(categories), "fill_s": round(time.perf_counter() - started, 1),
            "viewers": viewers}


class _Statements:
    """Counts the SQL statements the engine runs (per call: divided by the rounds)."""

    def __init__(self, engine: Any):
        self.count = 0
        sa_event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


def _timed(rounds: int, call: Callable[[], None], statements: _Statements) -> tuple[float, float]:
    """(median ms, SQL statements per call) of ``rounds`` calls."""
    samples = []
    before = statements.count
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000, (statements.count - before) / rounds


def _get(client: Any, url: str, headers: dict[str, str] | None = None,
         expect: str = "") -> Callable[[], None]:
    def call() -> None:
        response = client.get(url, headers=headers or {})
        assert response.status_code == 200, (url, response.status_code,
                                             response.get_data(as_text=True)[:500])
        assert expect in response.get_data(as_text=True), (url, expect)
    return call


def _card(app, user_id: int, fn: Callable[[Any], Any]) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    """``fn(viewer)`` in a fresh request context and session (per-request caches start empty,
    as on the page)."""
    from core import User, db

    def call() -> None:
        with app.test_request_context():
            fn(db.session.get(User, user_id))
            db.session.remove()
    return call


def _calls(app, viewers: dict[str, int]) -> dict[str, dict[str, Callable[[], None]]]:  # type: ignore[no-untyped-def]
    """Per viewer: the calls measured, signed in (browser) or with a bearer token (API)."""
    from core.testing import DEFAULT_PASSWORD, login
    from plugins.capa.dashboard import capa_context, events_context

    found = {}
    for key, username, _role in VIEWERS:
        browser = app.test_client()
        response = login(browser, username)
        assert response.status_code in (200, 302), response.status_code
        issued = app.test_client().post("/api/v1/auth/tokens", json={
            "username": username, "password": DEFAULT_PASSWORD})
        assert issued.status_code in (200, 201), issued.get_data(as_text=True)
        headers = {"Authorization": f"Bearer {issued.get_json()['token']}"}
        found[key] = {
            "list": _get(browser, "/admin/capa_event/", expect="QE-"),
            "board": _get(browser, "/admin/capa_board/", expect='id="capa-board"'),
            "dashboard": _get(browser, "/admin/", expect='id="capa-open-total"'),
            "capa_card": _card(app, viewers[key], capa_context),
            "events_card": _card(app, viewers[key], events_context),
            "trend_category": _get(browser, "/api/v1/capa/trend?by=category", headers),
            "trend_site": _get(browser, "/api/v1/capa/trend?by=site", headers),
        }
    return found


def _shape(app, viewers: dict[str, int]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the viewers see (checks the data is in scope as intended): events and CAPAs in
    scope, rows of the trends, the board's counts."""
    from sqlalchemy import func

    from core import Record, User, db, scope_clause
    from plugins.capa import trend

    seen: dict[str, Any] = {}
    with app.test_request_context():
        for key, user_id in viewers.items():
            user = db.session.get(User, user_id)
            clause = scope_clause(user, "capa.view", Record.study_id, Record.site_id)
            counts = dict(db.session.execute(
                select(Record.type, func.count()).where(clause).group_by(Record.type)).all())
            by_site = trend.events_per_month(user, 12, "site")
            seen[key] = {"events": counts.get("capa_event", 0),
                         "capas": counts.get("capa_capa", 0),
                         "trend_category_rows": len(trend.events_per_month(user, 12, "category")),
                         "trend_site_rows": len(by_site),
                         "trend_site_keys": sorted({row["key"] for row in by_site}),
                         "open_capas": sum(n for _l, n in trend.open_capas_by_age(user)),
                         "overdue": trend.overdue_work(user)}
        db.session.remove()
    return seen


def _profile(call: Callable[[], None], label: str) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    print(f"--- profile of {label} ---")
    print("\n".join(out.getvalue().splitlines()[:60]))


def measure(url: str, instance: Path, events: int) -> dict[str, Any]:
    from core import db

    app = build_app(url, instance, PLUGINS=["capa"])
    facts = _fill(app, events)
    viewers = facts.pop("viewers")
    calls = _calls(app, viewers)
    with app.app_context():
        statements = _Statements(db.engine)
    figures: dict[str, Any] = {}
    for viewer, named in calls.items():
        for name in CALLS:
            ms, per_call = _timed(ROUNDS, named[name], statements)
            figures[f"{viewer}_{name}_ms"] = ms
            figures[f"{viewer}_{name}_sql"] = per_call
    if os.environ.get("CQMS_BENCH_CAPA_PROFILE") and events == SIZES[-1]:
        slowest = max(((v, n) for v in calls for n in CALLS),
                      key=lambda vn: figures[f"{vn[0]}_{vn[1]}_ms"])
        _profile(calls[slowest[0]][slowest[1]], f"{slowest[0]} {slowest[1]} at {events:,}")
    seen = _shape(app, viewers)
    with app.app_context():
        db.engine.dispose()
    return {**facts, **figures, "seen": seen}


def _today() -> date:
    return datetime.now(UTC).date()


def _revision() -> str:
    """The commit measured, "+" when the work tree has changes (figures of work in progress)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core", "plugins"],
                               cwd=root, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+" if dirty.strip() else "")


def main() -> int:
    results: dict[str, Any] = {"machine": "vm", "python": platform.python_version(),
                               "cpus": os.cpu_count(), "date": _today().isoformat(),
                               "revision": _revision(),
                               "rounds": ROUNDS}
    with tempfile.TemporaryDirectory() as tmp:
        for label, url in backends(Path(tmp), "capa.sqlite3"):
            rows: dict[str, Any] = {}
            for size in SIZES:
                # A fresh SQLite file per size (PostgreSQL: build_app empties the schema).
                target = url.replace("capa.sqlite3", f"capa-{size}.sqlite3")
                rows[str(size)] = measure(target, Path(tmp) / f"{label}-{size}", size)
            small, large = rows[str(SIZES[0])], rows[str(SIZES[-1])]
            for viewer, _u, _r in VIEWERS:
                for name in CALLS:
                    key = f"{viewer}_{name}"
                    rows[f"ratio_{key}"] = large[f"{key}_ms"] / small[f"{key}_ms"]
            results[label] = rows
    _print(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "capa.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _print(results: dict[str, Any]) -> None:
    heads = {"list": "event list", "board": "CAPA board", "dashboard": "dashboard",
             "capa_card": "CAPA card", "events_card": "events card",
             "trend_category": "trend/cat", "trend_site": "trend/site"}
    small, large = (str(s) for s in (SIZES[0], SIZES[-1]))
    print(f"{'backend':<11} {'viewer':<6} {'events':>7} "
          + " ".join(f"{heads[n]:>11}" for n in CALLS))
    slow = []
    for label, r in ((k, v) for k, v in results.items() if isinstance(v, dict)):
        for viewer, _u, _role in VIEWERS:
            for size in (small, large):
                row = r[size]
                print(f"{label:<11} {viewer:<6} {int(size):>7} " + " ".join(
                    f"{row[f'{viewer}_{n}_ms']:>9.1f}ms" for n in CALLS))
                if size == large:
                    slow += [(label, viewer, heads[n], row[f"{viewer}_{n}_ms"]) for n in CALLS
                             if row[f"{viewer}_{n}_ms"] > SLOW_MS]
            print(f"{label:<11} {viewer:<6} {'ratio':>7} " + " ".join(
                f"{r[f'ratio_{viewer}_{n}']:>10.2f}x" for n in CALLS))
            print(f"{label:<11} {viewer:<6} {'SQL/call':>7} " + " ".join(
                f"{r[large][f'{viewer}_{n}_sql']:>11.0f}" for n in CALLS))
        for size in (small, large):
            row = r[size]
            seen = ", ".join(f"{v}: {s['events']} events, {s['capas']} CAPAs, "
                             f"{s['trend_site_rows']} by-site rows"
                             for v, s in row["seen"].items())
            print(f"{label:<11} {int(size):,} events, {row['capas']:,} CAPAs "
                  f"({row['open_capas']:,} open), {row['actions']:,} actions "
                  f"({row['overdue_actions']:,} overdue in implementation), filled in {row['fill_s']} s; "
                  f"in scope: {seen}")
    print(f"(medians of {ROUNDS} rounds; ratio {int(large):,} vs {int(small):,} events; "
          "target: a page well under 1 s at 100,000 events)")
    for label, viewer, name, ms in slow:
        print(f"SLOW: {label} {viewer} {name}: {ms:.0f} ms at {int(large):,} events")


if __name__ == "__main__":
    sys.exit(main())
