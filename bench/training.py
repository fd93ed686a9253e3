"""Training matrix (``python -m bench.training``): ``build_matrix`` as a QA manager on 100 people
x 50 requirements and on 5,000 people x 500 requirements, SQLite and, when
CQMS_TEST_POSTGRES_URL is set, PostgreSQL: the first page, a deep keyset page (the last full one), a
role-filtered page, the compliance dashboard card (medians of 7 rounds) and the full export
(``limit=None``, one run). Target: a page under
1 s on SQLite at 5,000 x 500.

The data is what the app would write, bulk-inserted with Core statements (no audit entries:
this measures reads): people with three role grants each (global, study, site), requirements
(two in five controlled documents with an effective version, the rest courses, some expiring),
approved curricula by role, study, country and site (about 40 requirements from 10 curricula
per person), and core_record + training_assignment rows in mixed states (current, expiring,
expired, due, overdue, waived, withdrawn, superseded history). Prints medians and the ratio of
the large to the small set, and writes bench/results/training.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter as Tally
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench import build_app
from bench.kernel import RESULTS

SIZES = ((100, 50), (5_000, 500))  # (people, requirements)
ROUNDS = 7
EXPORT_ROUNDS = 1  # the full export takes seconds at 5,000 x 500: one run
BATCH = 5_000
STUDIES = 3
SITES_PER_STUDY = 4
COUNTRIES = ("DE", "FR", "ES", "IT")
# Per role: curricula without scope, per study, per country and per site, and their sizes.
GLOBAL_CURRICULA, GLOBAL_CODES = 2, 5
STUDY_CODES, COUNTRY_CODES, SITE_CODES = 4, 3, 2
ROLE_KEYS = ("qa_manager", "author", "reviewer", "approver", "trainer", "trainee", "auditor",
             "inspector", "site_monitor")
PAGE = 50


def _hash(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


class _Ids:
    """Explicit primary keys for the bulk inserts (core_record ids are shared by all types)."""

    def __init__(self, start: int):
        self.next = start

    def take(self) -> int:
        self.next += 1
        return self.next


def _insert(table: Any, rows: list[dict[str, Any]]) -> None:
    from core import db

    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(table), rows[start:start + BATCH])


def _record(record_id: int, type_: str, number: str, title: str, state: str, actor: int,
            now: datetime, *, owner: int | None = None, study_id: int | None = None,
            site_id: int | None = None, version: int = 1) -> dict[str, Any]:
    return {"id": record_id, "type": type_, "number": number, "title": title[:300],
            "state": state, "owner_id": owner or actor, "study_id": study_id, "site_id": site_id,
            "version": version, "content_hash": _hash(type_, number, state, version),
            "attachments_digest": "", "created_at": now, "created_by_id": actor,
            "updated_at": now, "updated_by_id": actor}


def _viewer() -> int:
    """A QA manager (global grant) made through the app's own services."""
    from core import db
    from core.audit.context import audit_context
    from core.testing import DEFAULT_PASSWORD
    from core.users.models import Role
    from core.users.service import assign_role, create_user, system_context

    ctx = system_context("bench")
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
        user = create_user("bench-qa", "Bench QA", "", DEFAULT_PASSWORD)
        assign_role(user, db.session.scalar(select(Role).where(Role.key == "qa_manager")),
                    reason="bench")
    db.session.commit()
    return user.id


def _fill(app, people: int, requirements: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The data set; returns facts about it (counts, the viewer, usernames for keyset pages)."""
    from core import Record, Role, Site, Study, User, UserRole, db, system_user
    from core.records.models import Counter
    from plugins.documents.models import Document, DocumentVersion
    from plugins.training.models import Curriculum, TrainingAssignment, TrainingRequirement
    from plugins.training.workflows import add_months

    rng = random.Random(6)
    started = time.perf_counter()
    with app.app_context():
        viewer_id = _viewer()
        actor = system_user().id
        db.session.commit()
        now = datetime.now(UTC)
        today = now.date()
        year = str(now.year)
        ids = _Ids(db.session.scalar(select(Record.id).order_by(Record.id.desc()).limit(1)) or 0)
        roles = {key: db.session.scalar(select(Role.id).where(Role.key == key))
                 for key in ROLE_KEYS}

        # Studies and sites: the clinical dimension of grants, curricula and assignments.
        studies = [{"id": n, "code": f"BENCH-{n:02d}", "title": f"Bench study {n}",
                    "description": "", "active": True, "created_at": now}
                   for n in range(1, STUDIES + 1)]
        sites = [{"id": (s - 1) * SITES_PER_STUDY + k, "study_id": s, "code": f"{k:03d}",
                  "name": f"Site {k} of study {s}", "active": True, "created_at": now,
                  "country": COUNTRIES[((s - 1) * SITES_PER_STUDY + k) % len(COUNTRIES)]}
                 for s in range(1, STUDIES + 1) for k in range(1, SITES_PER_STUDY + 1)]
        _insert(Study.__table__, studies)
        _insert(Site.__table__, sites)
        site_of = {s["id"]: s for s in sites}

        # Requirements: documents (with an effective version) and courses, some expiring.
        reqs, records, docs, doc_versions = [], [], [], []
        version_of: dict[int, tuple[int, str]] = {}
        for n in range(1, requirements + 1):
            kind = "document" if n % 5 < 2 else ("elearning", "elearning", "instructor_led",
                                                 "external")[n % 4]
            document_id = None
            if kind == "document":
                document_id, version_id = ids.take(), ids.take()
                number = f"SOP-{n:04d}"
                records.append(_record(document_id, "documents_document", number,
                                       f"Procedure {n}", "effective", actor, now))
                docs.append({"id": document_id, "description": ""})
                records.append(_record(version_id, "documents_version", f"{number}-v1.0",
                                       f"Procedure {n}", "effective", actor, now))
                doc_versions.append({"id": version_id, "document_id": document_id,
                                     "version_label": "1.0", "training_required": True,
                                     "effective_document_id": document_id,
                                     "effective_at": now - timedelta(days=400)})
            reqs.append({"id": n, "code": f"REQ-{n:04d}", "title": f"Requirement {n}",
                         "kind": kind, "document_id": document_id, "description": "",
                         "expiry_months": (0, 12, 24)[n % 3], "pass_mark": 80,
                         "max_attempts": 3, "active": True})
            if document_id is not None:
                version_of[n] = (version_id, "1.0")
        _insert(Record.__table__, records)
        _insert(Document.__table__, docs)
        _insert(DocumentVersion.__table__, doc_versions)
        _insert(TrainingRequirement.__table__, reqs)
        req_by_id = {r["id"]: r for r in reqs}

        # Curricula per role: unscoped, per study, per country, per site; codes cycle over all
        # requirements so every one is a column.
        slot = iter(range(10**9))
        curricula = []  # (id, role key, study id, site id, country, requirement ids)

        def codes(count: int) -> list[int]:
            return sorted({next(slot) % requirements + 1 for _ in range(count)})

        for role_key in ROLE_KEYS:
            scopes = [(None, None, "", GLOBAL_CODES)] * GLOBAL_CURRICULA
            scopes += [(s["id"], None, "", STUDY_CODES) for s in studies]
            scopes += [(None, None, c, COUNTRY_CODES) for c in COUNTRIES]
            scopes += [(s["study_id"], s["id"], "", SITE_CODES) for s in sites]
            for study_id, site_id, country, size in scopes:
                curricula.append((ids.take(), role_key, study_id, site_id, country, codes(size)))
        records = [_record(cid, "training_curriculum", f"CUR-{n:04d}", f"Curriculum {role}",
                           "active", actor, now, study_id=study, site_id=site, version=2)
                   for n, (cid, role, study, site, _c, _r) in enumerate(curricula, 1)]
        _insert(Record.__table__, records)
        _insert(Curriculum.__table__, [
            {"id": cid, "role_key": role, "country": country, "description": "",
             "requirement_codes": "\n".join(req_by_id[r]["code"] for r in req_ids)}
            for cid, role, _s, _t, country, req_ids in curricula])

        # People: three grants each (global, one study, one site of another study).
        users, grants, needs, applied = [], [], {}, {}
        for n in range(1, people + 1):
            user_id = viewer_id + n
            users.append({"id": user_id, "username": f"user{n:05d}", "full_name": f"User {n}",
                          "email": f"user{n}@example.org", "active": True, "is_service": False,
                          "must_change_password": False, "failed_logins": 0, "created_at": now})
            first = n % len(ROLE_KEYS)
            keys = [ROLE_KEYS[(first + k) % len(ROLE_KEYS)] for k in (0, 3, 6)]
            study_id = n % STUDIES + 1
            site = sites[(n * 7) % len(sites)]
            scopes = [(None, None), (study_id, None), (None, site["id"])]
            grants += [{"user_id": user_id, "role_id": roles[key], "study_id": s, "site_id": t,
                        "granted_at": now, "granted_by_id": actor}
                       for key, (s, t) in zip(keys, scopes, strict=True)]
            needs[user_id], applied[user_id] = _needs(zip(keys, scopes, strict=True), curricula,
                                                      site_of)
        _insert(User.__table__, users)
        _insert(UserRole.__table__, grants)

        # Assignments in mixed states, as the workflow leaves them.
        records, rows = [], []
        serial = iter(range(1, 10**9))

        def assignment(user_id: int, req_id: int, need: tuple[int, Any, Any], state: str, *,
                       trigger: str = "curriculum", due: Any = None, completed: Any = None,
                       expires: Any = None, evidence: str = "",
                       earlier: int | None = None) -> int:
            curriculum_id, study_id, site_id = need
            req = req_by_id[req_id]
            version_id, label = version_of.get(req_id, (None, ""))
            subject = req["code"] + (f" v{label}" if label else "")
            record_id = ids.take()
            records.append(_record(record_id, "training_assignment",
                                   f"TRN-{year}-{next(serial):05d}",
                                   f"{subject}: {req['title']}", state, actor, now,
                                   owner=user_id, study_id=study_id, site_id=site_id,
                                   version=1 if state == "assigned" else 2))
            rows.append({"id": record_id, "trainee_id": user_id, "requirement_id": req_id,
                         "document_version_id": version_id, "version_label": label,
                         "curriculum_id": curriculum_id, "trigger": trigger,
                         "due_date": due or today + timedelta(days=30),
                         "completed_at": completed, "expires_on": expires, "score": None,
                         "evidence": evidence, "carried_over_from_id": None})
            return record_id

        def completion(user_id: int, req_id: int, need: Any, days_ago: int,
                       state: str = "completed", trigger: str = "curriculum") -> int:
            done = now - timedelta(days=days_ago)
            months = req_by_id[req_id]["expiry_months"]
            expires = add_months(done.date(), months) if months else None
            return assignment(user_id, req_id, need, state, trigger=trigger, completed=done,
                              due=done.date(), expires=expires)

        for user_id, mine in needs.items():
            for req_id, need in mine.items():
                fate = rng.random()
                expiring = req_by_id[req_id]["expiry_months"] > 0
                if fate < 0.05:
                    continue  # not assigned (e.g. a curriculum approved while the sync ran)
                if fate < 0.50 or (0.80 <= fate < 0.94 and not expiring):
                    if fate < 0.10:  # an earlier completion, replaced by this one
                        completion(user_id, req_id, need, rng.randint(400, 700), "superseded")
                    completion(user_id, req_id, need, rng.randint(5, 340))
                elif fate < 0.68:
                    assignment(user_id, req_id, need, "assigned",
                               due=today + timedelta(days=rng.randint(1, 30)))
                elif fate < 0.80:
                    assignment(user_id, req_id, need, "assigned",
                               due=today - timedelta(days=rng.randint(1, 60)))
                elif fate < 0.87:  # expired, no retraining yet
                    completion(user_id, req_id, need, 365 * (1 + (req_id % 3 == 2))
                               + rng.randint(5, 90))
                elif fate < 0.94:  # expired, retraining assigned
                    completion(user_id, req_id, need, 365 * (1 + (req_id % 3 == 2))
                               + rng.randint(5, 90))
                    assignment(user_id, req_id, need, "assigned", trigger="expiry",
                               due=today + timedelta(days=rng.randint(-10, 20)))
                elif fate < 0.97:
                    assignment(user_id, req_id, need, "waived",
                               evidence="Waived by Bench QA (bench-qa): prior qualification")
                else:
                    assignment(user_id, req_id, need, "cancelled")  # withdrawn: not assigned
        _insert(Record.__table__, records)
        _insert(TrainingAssignment.__table__, rows)
        _insert(Counter.__table__, [
            {"record_type": "training_assignment", "period": year, "value": len(rows)},
            {"record_type": "training_curriculum", "period": "", "value": len(curricula)}])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.connection().exec_driver_sql("ANALYZE")  # planner statistics
            db.session.commit()
        _check_needs(needs)
        usernames = sorted(u["username"] for u in users)
    return {"viewer_id": viewer_id, "people": people, "requirements": requirements,
            "curricula": len(curricula), "grants": len(grants), "assignments": len(rows),
            "needs_per_person": round(sum(map(len, needs.values())) / people, 1),
            "curricula_per_person": round(statistics.mean(applied.values()), 1),
            "fill_s": round(time.perf_counter() - started, 1),
            "deep_after": usernames[-PAGE - 2]}  # the last full page


def _needs(grants: Any, curricula: list[Any],
           site_of: dict[int, Any]) -> tuple[dict[int, Any], int]:
    """What ``services.needs_of`` derives for these grants (global grants first; checked), and
    how many curricula apply."""
    needs: dict[int, tuple[int, Any, Any]] = {}
    applied = 0
    for key, (study_id, site_id) in grants:
        site = site_of.get(site_id)
        for cid, role, c_study, c_site, country, req_ids in curricula:
            if role != key:
                continue
            if c_site is not None:
                if site_id != c_site:
                    continue
            else:
                if c_study is not None and (site["study_id"] if site else study_id) != c_study:
                    continue
                if country and (site is None or site["country"] != country):
                    continue
            applied += 1
            for req_id in req_ids:
                needs.setdefault(req_id, (cid, site["study_id"] if site else study_id, site_id))
    return needs, applied


def _check_needs(needs: dict[int, dict[int, Any]]) -> None:
    """The generated assignments follow the app's own derivation (a sample of people)."""
    from core import User, db
    from plugins.training.services import needs_of

    for user_id in random.Random(7).sample(sorted(needs), 20):
        derived = needs_of(db.session.get(User, user_id))
        got = {r: (n.curriculum_id, n.study_id, n.site_id) for r, n in derived.items()}
        assert got == needs[user_id], (user_id, got, needs[user_id])
    db.session.rollback()


def _median_ms(app, viewer_id: int, rounds: int, fn: Any = None, **kwargs: Any) -> tuple[float, Any]:  # type: ignore[no-untyped-def]
    """Median of ``fn(viewer, **kwargs)`` (default ``build_matrix``) in a fresh request context
    and session each round (per-request caches such as the plugin states start empty, as on the
    page)."""
    from core import User, db
    from plugins.training.matrix import build_matrix

    fn = fn or build_matrix
    samples, result = [], None
    for _ in range(rounds):
        with app.test_request_context():
            viewer = db.session.get(User, viewer_id)
            start = time.perf_counter()
            result = fn(viewer, **kwargs)
            samples.append(time.perf_counter() - start)
            db.session.remove()
    return statistics.median(samples) * 1000, result


def measure(url: str, instance: Path, people: int, requirements: int) -> dict[str, Any]:
    from core import db
    from plugins.training.dashboard import compliance_context
    from plugins.training.matrix import Filters

    app = build_app(url, instance, PLUGINS=["documents", "training"])
    facts = _fill(app, people, requirements)
    viewer = facts.pop("viewer_id")
    deep_after = facts.pop("deep_after")
    first_ms, first = _median_ms(app, viewer, ROUNDS, filters=Filters(), limit=PAGE)
    deep_ms, deep = _median_ms(app, viewer, ROUNDS, filters=Filters(), after=deep_after,
                               limit=PAGE)
    role_ms, by_role = _median_ms(app, viewer, ROUNDS, filters=Filters(role="trainee"),
                                  limit=PAGE)
    export_ms, export = _median_ms(app, viewer, EXPORT_ROUNDS, filters=Filters(), limit=None)
    card_ms, _card = _median_ms(app, viewer, ROUNDS, compliance_context)
    assert len(first.rows) == len(deep.rows) == PAGE and first.next_after, "short page"
    assert len(first.requirements) == requirements, len(first.requirements)
    assert by_role.rows and len(export.rows) == people + 1  # everyone and the viewer
    with app.app_context():
        db.engine.dispose()
    mix = Tally(cell.status for row in export.rows for cell in row.cells.values())
    return {**facts, "first_ms": first_ms, "deep_ms": deep_ms, "role_ms": role_ms,
            "role_rows": len(by_role.rows), "role_columns": len(by_role.requirements), "export_ms": export_ms,
            "card_ms": card_ms,
            "cells": sum(mix.values()), "status_mix": dict(sorted(mix.items()))}


def main() -> int:
    results: dict[str, Any] = {"machine": "vm", "python":
                               platform.python_version(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", lambda size: f"sqlite:///{Path(tmp) / f'training-{size}.sqlite3'}")]
        if os.environ.get("CQMS_TEST_POSTGRES_URL"):
            targets.append(("postgresql", lambda _size: os.environ["CQMS_TEST_POSTGRES_URL"]))
        for label, url in targets:
            rows: dict[str, Any] = {}
            for people, requirements in SIZES:
                key = f"{people}x{requirements}"
                rows[key] = measure(url(key), Path(tmp) / f"{label}-{key}", people, requirements)
            small, large = (rows[f"{p}x{r}"] for p, r in SIZES)
            for name in ("first", "deep", "role", "export", "card"):
                rows[f"ratio_{name}"] = large[f"{name}_ms"] / small[f"{name}_ms"]
            results[label] = rows
    print(f"{'backend':<11} {'people x reqs':>13} {'assignments':>11} {'first page':>11} "
          f"{'deep page':>10} {'role page':>10} {'export':>10} {'card':>9}")
    for label, r in ((k, v) for k, v in results.items() if isinstance(v, dict)):
        for people, requirements in SIZES:
            row = r[f"{people}x{requirements}"]
            print(f"{label:<11} {people:>6} x {requirements:<4} {row['assignments']:>11} "
                  f"{row['first_ms']:>9.1f}ms {row['deep_ms']:>8.1f}ms {row['role_ms']:>8.1f}ms "
                  f"{row['export_ms']:>8.0f}ms {row['card_ms']:>7.0f}ms")
        print(f"{label:<11} {'ratio':>13} {'':>11} {r['ratio_first']:>10.2f}x "
              f"{r['ratio_deep']:>9.2f}x {r['ratio_role']:>9.2f}x {r['ratio_export']:>9.1f}x "
              f"{r['ratio_card']:>8.1f}x"
              "   (5,000 x 500 vs 100 x 50; target: a page < 1 s)")
        large = r[f"{SIZES[1][0]}x{SIZES[1][1]}"]
        print(f"{label:<11} {SIZES[1][0]} x {SIZES[1][1]}: {large['needs_per_person']} needs "
              f"from {large['curricula_per_person']} of {large['curricula']} curricula per "
              f"person, {large['cells']} cells in the export, filled in {large['fill_s']} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
