"""The periodic system review report (A11-11, E6-23): for a period, the configuration changes
read from the audit trail, plugin installs and upgrades (validation summaries), what plugins
report through ``system_review_items`` (system incidents and issues, open CAPAs on the system),
the state of the user-access and audit-trail reviews, and the latest validation results.

A section is ``{"title", "lines", "flagged"}``: plain sentences, and how many need a look."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.audit.models import AuditEntry
from core.db import db
from core.errors import ValidationError
from core.reviews.models import KINDS, PeriodicReview
from core.specs import key_words
from core.users.models import Permission, Role
from core.validation.models import ValidationSummary

CONFIGURATION = ("core_setting", "core_role_permission", "core_plugin_state")
ACTIONS = {"create": "added", "update": "changed", "delete": "removed"}
MAX_DAYS = 3660
NO_PLUGIN = ("No enabled plugin reports system incidents or CAPAs (the quality events and CAPA "
             "plugin is not enabled): track them outside the system and attach them to the "
             "review.")


def period_of(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC moments from the start of ``first`` to the end of ``last`` (both days in);
    ValidationError naming ``to`` or ``from`` when the period is backwards or too long."""
    if last < first:
        raise ValidationError({"to": "The end date is before the start date."})
    if (last - first).days >= MAX_DAYS:
        raise ValidationError({"from": f"A report covers at most {MAX_DAYS} days."})
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return start, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)


def parse_day(name: str, text: str | None) -> date:
    """A date typed as YYYY-MM-DD; ValidationError naming ``name`` otherwise."""
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValidationError({name: "Give a date as YYYY-MM-DD."}) from None


def section(title: str, lines: list[str], flagged: int = 0) -> dict[str, Any]:
    return {"title": title, "lines": lines, "flagged": flagged}


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "never"


def _label(value: str | None) -> str:
    """An audited foreign key (``qa_manager (#2)``) or value without its row number."""
    text = (value or "").strip()
    return text.rsplit(" (#", 1)[0] if text.endswith(")") and " (#" in text else text


def _words_of(column: Any, words: Any, key: str) -> str:
    """What people call a role or permission (its label, description) from its key."""
    found = db.session.scalar(select(words).where(column == key))
    return str(found) if found else key


def _setting_or_plugin(first: AuditEntry, fields: dict[str, AuditEntry]) -> str:
    if first.entity_type == "core_setting":
        value = fields.get("value")
        if value is None:
            return f"setting {first.entity_id} {ACTIONS.get(first.action, 'changed')}"
        return (f"setting {first.entity_id} set from {value.old_value or 'its default'} to "
                f"{value.new_value}")
    enabled = fields.get("enabled")
    state = enabled.new_value if enabled is not None else None
    done = "enabled" if state in ("True", "true", "1") else "disabled" if state else \
        ACTIONS.get(first.action, "changed")
    return f"plugin {first.entity_id} {done}"


def _role_grant(first: AuditEntry, fields: dict[str, AuditEntry]) -> tuple[str, str] | None:
    """(role in words, permission in words) of a role-permission row added or removed."""
    role, permission = fields.get("role_id"), fields.get("permission_id")
    if role is None or permission is None:
        return None
    pick = (lambda e: e.old_value) if first.action == "delete" else (
        lambda e: e.new_value or e.old_value)
    return (_words_of(Role.key, Role.label, _label(pick(role))),
            _words_of(Permission.name, Permission.description,
                      _label(pick(permission))))


def _grants_line(group: tuple[str, ...], rights: list[str]) -> str:
    when, role, verb, actor, why = group
    many = "" if len(rights) == 1 else "s"
    return f"{when} role {role} {verb} {len(rights)} permission{many}: {'; '.join(rights)}, by " \
           f"{actor}{why}"


def configuration_changes(start: datetime, end: datetime) -> dict[str, Any]:
    """Each change of a setting, a role's permissions or a plugin's enablement in the period,
    read from the audit trail: one line per change, the permissions one role gained or lost
    at once (same minute, person and reason) on one line."""
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.at >= start, AuditEntry.at < end,
        AuditEntry.entity_type.in_(CONFIGURATION)).order_by(AuditEntry.id))
    changes: dict[tuple[str, str, str, str], list[AuditEntry]] = {}
    for entry in entries:
        key = (entry.entity_type, entry.entity_id, entry.action, entry.request_id or str(entry.at))
        changes.setdefault(key, []).append(entry)
    ordered: list[str | tuple[str, ...]] = []  # a sentence, or a role's group of grants
    grouped: dict[tuple[str, ...], list[str]] = {}
    for rows in changes.values():
        first, fields = rows[0], {e.field: e for e in rows}
        when, why = f"{first.at:%Y-%m-%d %H:%M} UTC", f" ({first.reason})" if first.reason else ""
        grant = _role_grant(first, fields) if first.entity_type == "core_role_permission" else None
        if grant is None:
            what = _setting_or_plugin(first, fields) if first.entity_type != \
                "core_role_permission" else f"role permission {ACTIONS.get(first.action, 'changed')}"
            ordered.append(f"{when} {what}, by {first.actor_name}{why}")
            continue
        group = (when, grant[0], "gained" if first.action != "delete" else "lost",
                 first.actor_name, why)
        if group not in grouped:
            ordered.append(group)
        grouped.setdefault(group, []).append(grant[1])
    lines = [item if isinstance(item, str) else _grants_line(item, grouped[item])
             for item in ordered]
    return section("Configuration changes (settings, role permissions, plugins enabled or "
                   "disabled)", lines or ["No configuration change in the period."], len(lines))


def _components(summary: ValidationSummary) -> dict[str, str]:
    found = {}
    for line in (summary.components or "").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            found[parts[0]] = parts[1]
    return found


def plugin_changes(start: datetime, end: datetime) -> dict[str, Any]:
    """Each validation summary recorded in the period, with what it adds or upgrades against
    the one before; then the versions running now."""
    summaries = list(db.session.scalars(select(ValidationSummary).order_by(
        ValidationSummary.created_at, ValidationSummary.id)))
    lines, before = [], {}
    for summary in summaries:
        now = _components(summary)
        if start <= summary.created_at < end:
            changes = [f"{key} {version} installed" for key, version in now.items()
                       if key not in before]
            changes += [f"{key} {before[key]} upgraded to {version}" for key, version
                        in now.items() if key in before and before[key] != version]
            lines.append(f"{summary.number} ({key_words(summary.state).lower()}, recorded "
                         f"{_day(summary.created_at)}): " + ("; ".join(changes) or
                                                            "no version change"))
        before = now
    plugins = current_app.extensions["cqms"].host.plugins
    running = ", ".join(f"{info.title} {info.version}" for info in plugins.values())
    return section("Plugin installs and upgrades (validation summaries)",
                   [*(lines or ["No validation summary recorded in the period."]),
                    f"Running now: {running}."])


def _latest_review(kind: str) -> PeriodicReview | None:
    return db.session.scalars(select(PeriodicReview).where(
        PeriodicReview.kind == kind, PeriodicReview.study_id.is_(None))
        .order_by(PeriodicReview.period_end.desc(), PeriodicReview.id.desc()).limit(1)).first()


def _status_line(review: PeriodicReview, what: str = "Latest") -> str:
    return (f"{what}: {review.number}, {key_words(review.state).lower()}, for the period to "
            f"{_day(review.period_end)}; {review.flagged} lines flagged for a check.")


def review_status(kind: str) -> dict[str, Any]:
    """The latest global review of ``kind`` (not completed: to check); for the audit trail,
    also the latest review of each study that has its own."""
    label = KINDS[kind]
    review = _latest_review(kind)
    lines = [_status_line(review)] if review is not None else [
        f"No {label.lower()} has been opened yet."]
    flagged = int(review is None or review.state != "completed")
    if kind == "audit_trail":
        studies = db.session.scalars(select(PeriodicReview).where(
            PeriodicReview.kind == kind, PeriodicReview.study_id.is_not(None))
            .order_by(PeriodicReview.period_end.desc(), PeriodicReview.id.desc()))
        latest: dict[int, PeriodicReview] = {}
        for found in studies:
            latest.setdefault(found.study_id, found)
        for found in sorted(latest.values(), key=lambda r: r.study.code):
            lines.append(_status_line(found, f"Study {found.study.code}"))
            flagged += found.state != "completed"
    return section(f"{label} status", lines, flagged)


def validation_results() -> dict[str, Any]:
    summary = db.session.scalars(select(ValidationSummary).order_by(
        ValidationSummary.created_at.desc(), ValidationSummary.id.desc()).limit(1)).first()
    if summary is None:
        return section("Validation test results", ["No validation summary recorded yet."], 1)
    line = (f"Latest: {summary.number}, {key_words(summary.state).lower()}: "
            f"{summary.tests_passed} tests passed, {summary.tests_failed} failed, "
            f"{summary.tests_skipped} skipped; {summary.requirements_proven} requirements "
            f"proven, {summary.requirements_unproven} not proven.")
    return section("Validation test results", [line],
                   int(summary.state != "approved" or summary.tests_failed > 0))


def plugin_sections(start: datetime, end: datetime) -> list[dict[str, Any]]:
    host = current_app.extensions["cqms"].host
    if not host.hook_implemented("system_review_items"):
        return [section("System incidents, issues and CAPAs", [NO_PLUGIN])]
    found = []
    for answer in host.hook_for_enabled("system_review_items")(start=start, end=end):
        for item in answer or ():
            found.append(section(str(item["title"]), [str(x) for x in item["lines"]],
                                 int(item.get("flagged", 0))))
    return found


def system_report(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The report's sections for entries from ``start`` (included) to ``end`` (excluded)."""
    return [configuration_changes(start, end), plugin_changes(start, end),
            *plugin_sections(start, end), review_status("access"),
            review_status("audit_trail"), validation_results()]


def report_text(sections: list[dict[str, Any]]) -> tuple[str, int]:
    """The report as the review's snapshot (one line per item) and its flagged count."""
    lines = []
    for part in sections:
        check = f" ({part['flagged']} to check)" if part["flagged"] else ""
        lines.append(f"== {part['title']}{check}")
        lines.extend(part["lines"])
    return "\n".join(lines), sum(p["flagged"] for p in sections)
