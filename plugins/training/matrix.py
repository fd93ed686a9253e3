"""The training matrix: people x requirements, each cell current / expiring / due / overdue /
expired / waived / not assigned (or blank: not required), in the viewer's study/site scope.

One page is: a keyset page of people (by username), their needs from the active curricula, and
one query for their live assignments. The status of a cell is derived, never stored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from core import Record, User, db, get_setting, has_permission, scope_clause, utcnow
from plugins.training import queries
from plugins.training.models import (
    Curriculum,
    TrainingAssignment,
    TrainingRequirement,
)
from plugins.training.services import needs_of

MATRIX = "training.view_matrix"
STATUSES = ("current", "expiring", "waived", "due", "overdue", "expired", "not_assigned")
# Counted as trained for compliance figures.
COMPLIANT = ("current", "expiring", "waived")


@dataclass(frozen=True)
class Filters:
    role: str | None = None
    study_id: int | None = None
    site_id: int | None = None
    username: str | None = None


@dataclass(frozen=True)
class Cell:
    status: str
    assignment: str | None = None  # the assignment number the status comes from
    due: date | None = None
    expires: date | None = None


@dataclass
class Row:
    user: User
    cells: dict[int, Cell] = field(default_factory=dict)  # requirement id -> cell

    @property
    def compliance(self) -> tuple[int, int]:
        """(compliant, required) over the requirements this person needs."""
        return sum(c.status in COMPLIANT for c in self.cells.values()), len(self.cells)


@dataclass
class Matrix:
    requirements: list[TrainingRequirement]
    rows: list[Row]
    next_after: str | None


def cell_status(live: list[Any], version_id: int | None, today: date,
                expiring_days: int) -> Cell:
    """The status of one person's live assignments on one requirement (see the module doc)."""
    valid = [a for a in live if a.state in ("completed", "waived")
             and (a.expires_on is None or a.expires_on >= today)
             and (version_id is None or a.state == "waived"
                  or a.document_version_id == version_id)]
    if valid:
        best = max(valid, key=lambda a: (a.expires_on or date.max, a.id))
        if best.state == "waived":
            return Cell("waived", best.number)
        if best.expires_on is not None and best.expires_on <= today + timedelta(
                days=expiring_days):
            return Cell("expiring", best.number, expires=best.expires_on)
        return Cell("current", best.number, expires=best.expires_on)
    open_ones = [a for a in live if a.state == "assigned"]
    if open_ones:
        first = min(open_ones, key=lambda a: (a.due_date or date.max, a.id))
        late = first.due_date is not None and first.due_date < today
        return Cell("overdue" if late else "due", first.number, due=first.due_date)
    expired = [a for a in live if a.state == "completed" and a.expires_on is not None
               and a.expires_on < today]
    if expired:
        last = max(expired, key=lambda a: a.expires_on)
        return Cell("expired", last.number, expires=last.expires_on)
    return Cell("not_assigned")


def _people(viewer: Any, filters: Filters, after: str | None, limit: int | None) -> list[User]:
    return User.in_scope(viewer, MATRIX, role=filters.role, study=filters.study_id,
                         site=filters.site_id, username=filters.username, after=after,
                         limit=None if limit is None else limit + 1)


def _columns(curricula: list[Curriculum], filters: Filters) -> list[TrainingRequirement]:
    if filters.role:
        curricula = [c for c in curricula if c.role_key == filters.role]
    codes = {code for c in curricula for code in c.codes}
    return sorted((r for r in queries.requirements_by_code(codes) if r.active),
                  key=lambda r: r.code)


def build_matrix(viewer: Any, filters: Filters = Filters(), *, after: str | None = None,
                 limit: int | None = 50) -> Matrix:
    """One page of the matrix (``limit=None``: everyone, for exports)."""
    if not has_permission(viewer, MATRIX):
        return Matrix([], [], None)
    curricula = queries.active_curricula()
    requirements = _columns(curricula, filters)
    people = _people(viewer, filters, after, limit)
    next_after = None
    if limit is not None and len(people) > limit:
        people = people[:limit]
        next_after = people[-1].username
    in_effect = queries.versions_in_effect(r.document_id for r in requirements
                                           if r.kind == "document")
    versions = {r.id: in_effect[r.document_id].id if r.document_id in in_effect else None
                for r in requirements if r.kind == "document"}
    live: dict[int, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
    if people and requirements:
        stmt = (select(TrainingAssignment.id, Record.number, Record.state,
                       TrainingAssignment.trainee_id, TrainingAssignment.requirement_id,
                       TrainingAssignment.document_version_id, TrainingAssignment.due_date,
                       TrainingAssignment.expires_on)
                .select_from(TrainingAssignment)
                .where(TrainingAssignment.trainee_id.in_([p.id for p in people]),
                       TrainingAssignment.requirement_id.in_([r.id for r in requirements]),
                       scope_clause(viewer, MATRIX, Record.study_id, Record.site_id)))
        # States are filtered here: in SQL, SQLite drives the query by the state index (every
        # live assignment) instead of the (trainee, requirement) index.
        live_states = queries.live_states()
        for row in db.session.execute(stmt):
            if row.state in live_states:
                live[row.trainee_id][row.requirement_id].append(row)
    today = utcnow().date()
    expiring_days = get_setting("training.expiry_notice_days")
    wanted = {r.id for r in requirements}
    by_code = {r.code: r for r in requirements}  # needs beyond the columns are not shown
    rows = []
    for person in people:
        row = Row(person)
        mine = live[person.id]
        needed = needs_of(person, curricula, by_code).keys() & wanted
        for requirement_id in needed | mine.keys():  # assignments beyond curricula too
            row.cells[requirement_id] = cell_status(mine.get(requirement_id, []),
                                                    versions.get(requirement_id), today,
                                                    expiring_days)
        rows.append(row)
    return Matrix(requirements, rows, next_after)
