"""The trace matrix: requirement -> claiming components -> tests -> result per backend."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from core.validation.catalogue import Requirement, catalogue
from core.validation.scope import ANY, Scope, load_scopes

PROVEN, UNPROVEN, NOT_CLAIMED = "proven", "not proven", "not claimed"


@dataclass
class Row:
    requirement: Requirement
    claimed_by: list[str] = field(default_factory=list)
    backends: tuple[str, ...] = ()  # what the claims require, "any" included
    reasons: list[str] = field(default_factory=list)  # why not claimed
    tests: list[dict[str, Any]] = field(default_factory=list)

    def passed_on(self, backend: str) -> bool:
        return any(t["outcome"] == "passed" and (backend == ANY or t["backend"] == backend)
                   for t in self.tests)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [t for t in self.tests if t["outcome"] in ("failed", "error")]

    @property
    def missing_backends(self) -> list[str]:
        return [b for b in self.backends if not self.passed_on(b)]

    @property
    def status(self) -> str:
        if not self.claimed_by:
            return NOT_CLAIMED
        return PROVEN if not self.missing_backends and not self.failed else UNPROVEN

    def result_on(self, backend: str) -> str:
        """``passed 3`` / ``failed 1 of 4`` / ``-`` for the tests of this row on ``backend``."""
        mine = [t for t in self.tests if t["backend"] == backend]
        if not mine:
            return "-"
        counts = Counter(t["outcome"] for t in mine)
        bad = counts["failed"] + counts["error"]
        if bad:
            return f"failed {bad} of {len(mine)}"
        if counts["passed"]:
            return f"passed {counts['passed']}" + (
                f" (skipped {counts['skipped']})" if counts["skipped"] else "")
        return f"skipped {counts['skipped']}" if counts["skipped"] else "not run"


@dataclass
class Trace:
    rows: list[Row]
    document: dict[str, Any]

    def unproven_claims(self) -> list[str]:
        out = []
        for row in self.rows:
            if row.status != UNPROVEN:
                continue
            why = (f"failed: {row.failed[0]['test']}" if row.failed else
                   f"no passing test on {', '.join(row.missing_backends)}")
            out.append(f"{row.requirement.id} (claimed by {', '.join(row.claimed_by)}): {why}")
        return out

    def counts(self) -> Counter[str]:
        return Counter(row.status for row in self.rows)

    def summary(self) -> str:
        counts = self.counts()
        return (f"{len(self.rows)} requirements, {counts[PROVEN]} claimed and proven, "
                f"{counts[UNPROVEN]} claimed but not proven, {counts[NOT_CLAIMED]} not claimed "
                "(with reasons)")

    def summary_line(self) -> str:
        return f"validation: {self.summary()}"

    def counts_by_component(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for row in self.rows:
            for component in row.claimed_by:
                out.setdefault(component, Counter())[row.status] += 1
        return out

    def deviations(self) -> list[dict[str, Any]]:
        """Tests that failed, broke or were skipped: what the summary must explain."""
        return [t for t in self.document.get("tests", [])
                if t["outcome"] in ("failed", "error", "skipped", "not run")]


def build_trace(document: dict[str, Any], scopes: list[Scope] | None = None,
                untested: frozenset[str] = frozenset()) -> Trace:
    """``untested``: backends this run could not use (claims on them are not checked)."""
    scopes = load_scopes() if scopes is None else scopes
    rows = {rid: Row(req) for rid, req in catalogue().items()}
    for scope in scopes:
        for rid, backends in scope.claimed.items():
            row = rows[rid]
            row.claimed_by.append(scope.component)
            wanted = [b for b in backends if b not in untested] or [ANY]
            row.backends = tuple(dict.fromkeys([*row.backends, *wanted]))
        for rid, reason in scope.not_claimed.items():
            rows[rid].reasons.append(f"{scope.component}: {reason}")
    for test in document.get("tests", []):
        for rid in test.get("requirements", []):
            if rid in rows:
                rows[rid].tests.append(test)
    return Trace(list(rows.values()), document)
