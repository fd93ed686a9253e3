"""The validation summary document: trace matrix, environment, installed code, deviations."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app, render_template

from core.validation import FORMAT
from core.validation.trace import Trace, build_trace

# What each test entry must carry, and the type of each.
TEST_FIELDS = {"test": str, "outcome": str, "requirements": list, "backend": str}


class ResultsError(ValueError):
    """The results file is missing, not JSON, or not a CQMS validation results file."""


@dataclass(frozen=True)
class Results:
    document: dict[str, Any]
    name: str
    sha256: str


def read_results(path: Path) -> Results:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ResultsError(f"{path} is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT \
            or not isinstance(document.get("tests"), list):
        raise ResultsError(f"{path} is not a CQMS validation results file ({FORMAT})")
    for number, test in enumerate(document["tests"], start=1):
        if not isinstance(test, dict) or not all(
                isinstance(test.get(key), kind) for key, kind in TEST_FIELDS.items()):
            raise ResultsError(f"{path}: test {number} lacks "
                               f"{', '.join(TEST_FIELDS)} of the right types")
    inventory = document.get("inventory")
    if not isinstance(document.get("environment"), dict) or not isinstance(inventory, list) \
            or not all(isinstance(i, dict) and isinstance(i.get("key"), str)
                       and isinstance(i.get("version"), str) for i in inventory):
        raise ResultsError(f"{path}: 'environment' or 'inventory' is missing or malformed")
    return Results(document, path.name, hashlib.sha256(raw).hexdigest())


def _labels() -> dict[str, str]:
    return {key: info.title for key, info in current_app.extensions["cqms"].host.plugins.items()}


def render_summary(results: Results, trace: Trace | None = None) -> str:
    """The summary as one HTML document (styles inline), for the browser and for WeasyPrint."""
    document = results.document
    trace = trace or build_trace(document)
    env = document.get("environment", {})
    inventory = document.get("inventory", [])
    labels = _labels()
    for item in inventory:
        item["label"] = "Core" if item["key"] == "core" else labels.get(item["key"], item["key"])
    commit = env.get("commit") or "unknown"
    return render_template(
        "core/validation/summary.html",
        trace=trace, env=env, inventory=inventory,
        by_component={k: dict(v) for k, v in trace.counts_by_component().items()},
        tests=Counter(t["outcome"] for t in document["tests"]),
        deviations=trace.deviations(),
        core_version=next((i["version"] for i in inventory if i["key"] == "core"), "?"),
        commit_short=commit[:12], finished_at=document.get("finished_at", "?"),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        results_name=results.name, results_sha256=results.sha256,
    )
