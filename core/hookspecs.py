"""The plugin contract: every hook a CQMS plugin may implement.

Names are stable. Arguments may be added (an implementation may accept fewer); a hook is never
renamed without a deprecation period. Startup hooks run once inside ``create_app()``, before
the first request, for every *allowed* plugin (enabled or not, so enabling needs no restart).
Every other hook reaches *enabled* plugins only (``PluginHost.hook_for_enabled``), in pluggy's
order (``tryfirst``/``trylast``, wrappers): an implementation never checks its plugin is enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    from flask import Blueprint, Flask

    from core.specs import (
        AdminView,
        AuditEventKind,
        DashboardWidget,
        JobKind,
        LinkKind,
        MigrationBranch,
        Permission,
        RecordAction,
        RecordType,
        Reminder,
        RoleTemplate,
        SettingSpec,
        SignatureMeaning,
        Workflow,
    )

PROJECT = "cqms"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------
# Startup: declarations
# ---------------------------------------------------------------------------------------------


@hookspec
def register_models() -> list[type]:
    """Return the plugin's model classes. Called once at startup.

    Every table must carry the plugin prefix (``capa_action``); startup fails otherwise.

    Example::

        @hookimpl
        def register_models():
            return [CapaAction]
    """


@hookspec
def register_migrations() -> MigrationBranch:
    """Return the plugin's Alembic branch. Called by ``cqms db`` commands.

    The branch label is the plugin key; its root revision names ``depends_on`` the branches it
    needs (at least ``core``).

    Example::

        @hookimpl
        def register_migrations():
            return MigrationBranch("capa", Path(__file__).parent / "migrations" / "versions")
    """


@hookspec
def register_permissions() -> list[Permission]:
    """Return the permissions the plugin checks. Called once at startup.

    Names are ``<key>.<verb>``; they are stored by ``cqms db upgrade`` and granted through roles.

    Example::

        @hookimpl
        def register_permissions():
            return [Permission("capa.close", "Close a CAPA")]
    """


@hookspec
def register_roles() -> list[RoleTemplate]:
    """Return default role templates. Called once at startup; seeded by ``cqms db upgrade``.

    A role is created once with its template permissions and is then edited by administrators;
    a permission new to the database is granted to every template that lists it. ``label=None``
    extends a role declared elsewhere.

    Example::

        @hookimpl
        def register_roles():
            return [RoleTemplate("qa_manager", None, ("capa.close",))]
    """


@hookspec
def register_settings() -> list[SettingSpec]:
    """Return runtime settings, keys namespaced ``<key>.<name>``. Called once at startup.

    Values live in the database, are validated against the spec, and every change is audited.

    Example::

        @hookimpl
        def register_settings():
            return [SettingSpec("capa.default_due_days", "int", 30, "Days to close a CAPA")]
    """


@hookspec
def register_reminders() -> list[Reminder]:
    """Return reminder sweeps. Called once at startup; run by ``cqms reminders run`` and
    ``cqms scheduler`` (one dedicated process, never inside web workers).

    Each sweep is called with the current UTC datetime as the system principal, in its own
    transaction, and returns how many notifications it queued. It must be idempotent: queue with
    ``core.notify``, which keeps one notification per (kind, record, due date, recipient).

    Example::

        @hookimpl
        def register_reminders():
            return [Reminder("capa.due_soon", "CAPAs due within a week", remind_due_capas)]
    """


@hookspec
def register_jobs() -> list[JobKind]:
    """Return the kinds of long work the plugin starts with ``core.start_job`` (exports, bulk
    changes), run outside the web request with progress the user watches. Called once at start.

    Example::

        @hookimpl
        def register_jobs():
            return [JobKind("capa.register_export", "CAPA register export", export_register)]
    """


@hookspec
def register_hookspecs() -> list[object]:
    """Return modules (or classes) of hookspecs the plugin offers other plugins. Called once
    while the plugins load, before hook implementations are checked.

    Mark them with ``pluggy.HookspecMarker("cqms")``; names must start with ``<key>_``. Call them
    with ``core.call_hook("<key>_...", ...)``; plugins implementing them should ``REQUIRES`` you.

    Example::

        @hookimpl
        def register_hookspecs():
            return [hookspecs]  # e.g. documents_version_effective(document, version)
    """


# ---------------------------------------------------------------------------------------------
# Startup: web, admin and command line
# ---------------------------------------------------------------------------------------------


@hookspec
def register_blueprints() -> list[Blueprint]:
    """Return Flask blueprints named ``<key>`` or ``<key>_*``. Called once at startup.

    Every view must carry a policy (``core.requires(...)``, ``core.login_only`` or
    ``core.public``); a route without one is refused at runtime and fails the route-walk test.
    While the plugin is disabled its routes answer 404.

    Example::

        @hookimpl
        def register_blueprints():
            return [views.blueprint]
    """


@hookspec
def register_api_blueprints() -> list[Blueprint]:
    """Return ``flask_smorest.Blueprint`` objects named ``<key>_api`` (or ``<key>_api_*``) for
    endpoints under ``/api/v1/<key>/``. Called once at startup.

    The core registers them with the API, so they appear in the same OpenAPI document, are
    reached only with a bearer token (401 otherwise) and answer problem+json errors. Check
    permissions and study/site scope in each view. While the plugin is disabled they answer 404.

    Example::

        blp = flask_smorest.Blueprint("capa_api", __name__, url_prefix="/api/v1/capa")

        @hookimpl
        def register_api_blueprints():
            return [blp]
    """


@hookspec
def register_admin_views() -> list[AdminView]:
    """Return admin pages as data. Called once at startup.

    The core instantiates each view, adds login, permission and plugin-enabled checks, and
    orders menus (core first, then the configured plugin order, then ``order``).

    Example::

        @hookimpl
        def register_admin_views():
            return [AdminView(CapaAdmin, "CAPAs", "capa_capa", "capa.view", model=Capa)]
    """


@hookspec
def register_dashboard_widgets() -> list[DashboardWidget]:
    """Return dashboard cards. Called once at startup; rendered per user and permission.

    Example::

        @hookimpl
        def register_dashboard_widgets():
            return [DashboardWidget("capa_open", "Open CAPAs", "capa.view", "capa/w.html", ctx)]
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to ``cli``, the group ``cqms <key>``. Called once at startup.

    Example::

        @hookimpl
        def register_commands(cli):
            cli.add_command(export_capas)
    """


@hookspec
def app_ready(app: Flask) -> None:
    """Last wiring after every registry is final. Called once at the end of ``create_app``.

    Example::

        @hookimpl
        def app_ready(app):
            app.jinja_env.filters["capa_priority"] = priority_label
    """


# ---------------------------------------------------------------------------------------------
# Startup: records, workflows and signatures
# ---------------------------------------------------------------------------------------------


@hookspec
def register_link_kinds() -> list[LinkKind]:
    """Return the kinds of links your records take part in. ``core.link_records`` refuses a
    kind nobody declared (422 naming ``kind``) and a link between types the kind does not allow,
    or past its cardinality (409 naming the rule). Keys are unique across plugins.

    Example::

        @hookimpl
        def register_link_kinds():
            return [LinkKind("addresses", "addresses", "addressed by",
                             source_types=("capa_capa",), target_types=("capa_event",))]
    """


@hookspec
def register_audit_event_kinds() -> list[AuditEventKind]:
    """Return the kinds of audit events your plugin writes with ``core.record_event``, keyed
    ``<plugin>.<name>``: an undeclared kind is refused when written, and each kind's label is
    what histories show.

    Example::

        @hookimpl
        def register_audit_event_kinds():
            return [AuditEventKind("acme.calibrated", "Instrument calibrated",
                                   "field: the instrument; new: the certificate number")]
    """


@hookspec
def register_signature_meanings() -> list[SignatureMeaning]:
    """Return signature meanings (the controlled vocabulary). Called once at startup.

    Keys are global (``approved``, ``reviewed``); the core ships authored, reviewed, approved,
    verified, responsible and read_and_understood.

    Example::

        @hookimpl
        def register_signature_meanings():
            return [SignatureMeaning("qa_released", "Released by QA")]
    """


@hookspec
def register_workflows() -> list[Workflow]:
    """Return workflows (states and transitions). Called once at startup.

    Keys carry the plugin prefix; every transition's permission and signature meaning must exist;
    every state declares its category (``draft``, ``open``, ``closed`` or ``cancelled``).

    Example::

        @hookimpl
        def register_workflows():
            return [Workflow("capa_capa", ("open", "closed"), "open", (CLOSE,),
                             categories={"open": "open", "closed": "closed"})]
    """


@hookspec
def register_record_types() -> list[RecordType]:
    """Return record types: model, number prefix, workflow and controlled fields. Called once
    at startup; the model must be a joined-table subclass of ``core.Record``.

    Example::

        @hookimpl
        def register_record_types():
            return [RecordType("capa_capa", "CAPA", Capa, "CAPA", "capa_capa", ("problem",))]
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def next_record_number(record_type: RecordType, record: object) -> str | None:
    """Return the human number of a new record, or None to leave it to the next plugin.

    Called inside the creating transaction. The core's own implementation (``trylast``) uses a
    gapless counter row per type (and year where the type asks for it).

    Example::

        @hookimpl
        def next_record_number(record_type, record):
            return None if record_type.key != "acme_item" else f"ACME-{uuid4().hex[:6]}"
    """


@hookspec
def validate_transition(record: object, transition: object, user: object) -> list[str]:
    """Return reasons to refuse ``transition`` of ``record`` by ``user`` (empty: no objection).

    Called by ``core.transition`` inside the transaction, before anything changes; any reason
    from any plugin refuses the transition (409) and nothing is written.

    Example::

        @hookimpl
        def validate_transition(record, transition, user):
            return ["Open actions remain."] if open_actions(record) else []
    """


@hookspec
def validate_link(source: object, target: object, kind: str, user: object) -> list[str]:
    """Return reasons to refuse linking ``source`` to ``target`` as ``kind`` by ``user`` (empty:
    no objection).

    Called by ``core.link_records`` inside the transaction, before the link is written; any
    reason from any plugin refuses the link (409) and nothing is written.

    Example::

        @hookimpl
        def validate_link(source, target, kind, user):
            return ["Retired procedure."] if kind == "governed_by" and retired(target) else []
    """


@hookspec
def validate_change(record: object, changes: dict[str, tuple[object, object]],
                    user: object) -> list[str | tuple[str, str]]:
    """Return problems with a row about to be written (empty: no objection): cross-field rules
    that the ``RecordType`` and ``ItemRules`` declarations cannot say.

    Called by the core before every flush, on every path (admin, API, services, plain ORM), for
    each new or changed record and each new or changed row of a model a plugin registered.
    ``changes`` maps each changed column to ``(old, new)`` (``old`` is None for a new row; the
    core's bookkeeping columns are left out); ``user`` is the acting user (None outside a
    request). A problem is a message, or ``(field, message)`` to name the field; any problem
    refuses the write (422 naming the field) and nothing is written. Look only at your own
    models; do not write from here.

    Example::

        @hookimpl
        def validate_change(record, changes, user):
            if isinstance(record, Visit) and "end_date" in changes and record.end_date < record.start_date:
                return [("end_date", "Ends before it starts.")]
            return []
    """


@hookspec
def record_created(record: object) -> None:
    """Called after the transaction that created ``record`` committed.

    Example::

        @hookimpl
        def record_created(record):
            notify_owner(record)
    """


@hookspec
def record_transitioned(record: object, transition: object, user: object) -> None:
    """Called after the transaction of a transition committed (other plugins react here).

    Example::

        @hookimpl
        def record_transitioned(record, transition, user):
            if transition.name == "make_effective": assign_training(record)
    """


@hookspec
def signature_applied(record: object, signature: object) -> None:
    """Called after the transaction that wrote ``signature`` on ``record`` committed.

    Example::

        @hookimpl
        def signature_applied(record, signature):
            log.info("%s signed %s", signature.printed_name, record.number)
    """


@hookspec
def role_assignment_changed(assignment: object) -> None:
    """Called after the transaction that granted or revoked a role assignment committed
    (``assignment.revoked_at`` tells which); ``assignment.user``, ``.role``, ``.study`` and
    ``.site`` say who holds what where. Runs in a new transaction: commit what you write.

    Example::

        @hookimpl
        def role_assignment_changed(assignment):
            assign_curricula(assignment.user)
    """


@hookspec
def record_page_actions(record: object, user: object) -> list[RecordAction]:
    """Return extra actions for the core's record page of ``record`` as seen by ``user`` (empty
    list: none). Each ``RecordAction(label, url, element_id, fields)`` is shown with the exports
    as a button posting a CSRF-protected form (plus its hidden ``fields``) to ``url``, a route
    of the plugin that checks access itself.

    Example::

        @hookimpl
        def record_page_actions(record, user):
            if record.type != "acme_widget":
                return []
            return [RecordAction("Label PDF", url_for("acme.label", record_id=record.id),
                                 "acme-label")]
    """


@hookspec
def seed_reference_data() -> str | None:
    """Insert the reference rows your plugin cannot work without (the first entries of a list
    administrators then keep, such as event categories). Called by ``cqms db upgrade`` after
    permissions and roles, for each enabled plugin, as the system principal; the writes are
    audited like any other. Be idempotent and add only what is missing: never change or
    re-add a row an administrator edited or retired. Flush; the caller commits. Return a
    one-line summary, or None.

    Example::

        @hookimpl
        def seed_reference_data():
            added = [k for k in DEFAULT_GRADES if grade(k) is None]
            for key in added:
                db.session.add(Grade(key=key, label=key.title()))
            db.session.flush()
            return f"{len(added)} grades added" if added else None
    """


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


@hookspec
def load_demo_data(users: dict[str, object], passwords: dict[str, str | None],
                   study: object) -> str | None:
    """Add the plugin's demo data. Called by ``cqms demo`` once the demo study, sites and
    accounts exist and are committed, for each *enabled* plugin, as the system principal.

    ``users`` maps demo usernames (``author``, ``reviewer``, ``approver``, ``qa``, ...) to their
    accounts, ``passwords`` to their passwords (None when not known: then skip signed steps),
    ``study`` is the demo study. Act as the demo users, commit as you go, and be idempotent
    (``cqms demo`` may run again). Return a one-line summary to print, or None.

    Example::

        @hookimpl
        def load_demo_data(users, passwords, study):
            if not existing_demo_suppliers():
                create_record("acme_supplier", users["qa"], title="Demo Labs GmbH")
                db.session.commit()
            return "acme: demo suppliers present"
    """


@hookspec
def system_review_items(start: object, end: object) -> list[dict[str, object]]:
    """Return sections for the periodic system review (``GET /api/v1/system/periodic-review``
    and the scheduled System review): what the plugin knows about the system's health from
    ``start`` (included) to ``end`` (excluded), UTC datetimes. Each section is ``{"title": str,
    "lines": [str, ...], "flagged": int}`` in plain words; ``flagged`` counts lines to check.
    The CAPA plugin reports system incidents and issues and the open CAPAs addressing them.

    Example::

        @hookimpl
        def system_review_items(start, end):
            return [{"title": "Interface errors", "lines": errors_between(start, end),
                     "flagged": len(errors_between(start, end))}]
    """


def hook_names() -> list[str]:
    """Names of every hook in this contract (used by the docs and meta-tests)."""
    return sorted(
        name
        for name, value in globals().items()
        if callable(value) and hasattr(value, f"{PROJECT}_spec")
    )


__all__ = ["hookimpl", "hookspec", "hook_names", "PROJECT"]

