"""Collects every plugin's declarations at startup and refuses inconsistent ones, naming the plugin."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core.corrections import check_corrections
from core.errors import StartupError, ValidationError
from core.plugins import CORE_KEY, PluginHost
from core.records.items import RecordItem
from core.records.models import Record
from core.registry_checks import check_workflow
from core.retention_policy import check_phi_fields, check_retention
from core.second_person.service import check_declaration as check_critical_fields
from core.settings import coerce_setting
from core.specs import (
    LINK_CARDINALITIES,
    SETTING_TYPES,
    AdminLink,
    AdminView,
    AuditEventKind,
    DashboardWidget,
    JobKind,
    LinkKind,
    MigrationBranch,
    Permission,
    RecordType,
    Reminder,
    RoleTemplate,
    SettingSpec,
    SignatureMeaning,
    Workflow,
)


@dataclass
class RoleDefinition:
    key: str
    label: str
    description: str
    declared_by: str
    permissions: set[str] = field(default_factory=set)


@dataclass
class Registry:
    permissions: dict[str, Permission] = field(default_factory=dict)
    permission_owner: dict[str, str] = field(default_factory=dict)
    roles: dict[str, RoleDefinition] = field(default_factory=dict)
    settings: dict[str, SettingSpec] = field(default_factory=dict)
    setting_owner: dict[str, str] = field(default_factory=dict)
    models: dict[str, list[type]] = field(default_factory=dict)
    model_owner: dict[type, str] = field(default_factory=dict)
    blueprints: list[tuple[str, Any]] = field(default_factory=list)
    api_blueprints: list[tuple[str, Any]] = field(default_factory=list)
    admin_views: list[tuple[str, AdminView]] = field(default_factory=list)
    admin_links: list[tuple[str, AdminLink]] = field(default_factory=list)
    widgets: list[tuple[str, DashboardWidget]] = field(default_factory=list)
    migrations: list[tuple[str, MigrationBranch]] = field(default_factory=list)
    signature_meanings: dict[str, SignatureMeaning] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    record_types: dict[str, RecordType] = field(default_factory=dict)
    record_type_owner: dict[str, str] = field(default_factory=dict)
    reminders: dict[str, Reminder] = field(default_factory=dict)
    reminder_owner: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, JobKind] = field(default_factory=dict)
    job_owner: dict[str, str] = field(default_factory=dict)
    audit_event_kinds: dict[str, AuditEventKind] = field(default_factory=dict)
    link_kinds: dict[str, LinkKind] = field(default_factory=dict)

    def workflow_for(self, type_key: str) -> Workflow | None:
        """The workflow a record type follows (None for a type no enabled plugin declares)."""
        record_type = self.record_types.get(type_key)
        return None if record_type is None else self.workflows[record_type.workflow]

    def settings_of(self, plugin: str) -> list[SettingSpec]:
        return [s for k, s in self.settings.items() if self.setting_owner[k] == plugin]


def _items(plugin: str, hook: str, result: Any, kind: type | tuple[type, ...]) -> list[Any]:
    if result is None:
        return []
    items = list(result) if isinstance(result, list | tuple) else [result]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for item in items:
        if not isinstance(item, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise StartupError(
                f"plugin {plugin!r}: {hook} must return {names} objects, got {item!r}"
            )
    return items


def _add_callable(plugin: str, what: str, spec: Any, fn: Any, fn_name: str,
                  found: dict[str, Any], owners: dict[str, str]) -> None:
    """Add a keyed declaration carrying a function (a reminder's sweep, a job's run)."""
    _check_prefix(plugin, what, spec.key, ".")
    if spec.key in found:
        raise StartupError(f"plugin {plugin!r}: {what} {spec.key!r} declared twice")
    if not callable(fn):
        raise StartupError(f"plugin {plugin!r}: {what} {spec.key!r}: {fn_name} is not callable")
    found[spec.key] = spec
    owners[spec.key] = plugin


def _check_prefix(plugin: str, what: str, name: str, sep: str) -> None:
    if not name.startswith(plugin + sep) and not (sep == "_" and name == plugin):
        raise StartupError(f"plugin {plugin!r}: {what} {name!r} must start with '{plugin}{sep}'")


def build_registry(host: PluginHost) -> Registry:
    reg = Registry()
    call = host.results_by_plugin  # every loaded plugin, enabled or not

    for plugin, result in call("register_permissions"):
        for perm in _items(plugin, "register_permissions", result, Permission):
            _check_prefix(plugin, "permission", perm.name, ".")
            if perm.name in reg.permissions:
                raise StartupError(f"plugin {plugin!r}: permission {perm.name!r} declared twice")
            reg.permissions[perm.name] = perm
            reg.permission_owner[perm.name] = plugin

    extensions: list[tuple[str, RoleTemplate]] = []
    for plugin, result in call("register_roles"):
        for tpl in _items(plugin, "register_roles", result, RoleTemplate):
            if tpl.label is None:
                extensions.append((plugin, tpl))
                continue
            if tpl.key in reg.roles:
                other = reg.roles[tpl.key].declared_by
                raise StartupError(
                    f"plugin {plugin!r}: role {tpl.key!r} already declared by {other!r} "
                    "(use label=None to extend it)"
                )
            reg.roles[tpl.key] = RoleDefinition(tpl.key, tpl.label, tpl.description, plugin)
            extensions.append((plugin, tpl))
    for plugin, tpl in extensions:
        role = reg.roles.get(tpl.key)
        if role is None:
            raise StartupError(f"plugin {plugin!r}: extends unknown role {tpl.key!r}")
        for name in tpl.permissions:
            if name not in reg.permissions:
                raise StartupError(
                    f"plugin {plugin!r}: role {tpl.key!r} names unknown permission {name!r}"
                )
            role.permissions.add(name)

    for plugin, result in call("register_settings"):
        for spec in _items(plugin, "register_settings", result, SettingSpec):
            _check_prefix(plugin, "setting", spec.key, ".")
            if spec.key in reg.settings:
                raise StartupError(f"plugin {plugin!r}: setting {spec.key!r} declared twice")
            if spec.type not in SETTING_TYPES:
                raise StartupError(
                    f"plugin {plugin!r}: setting {spec.key!r} has unknown type {spec.type!r}"
                )
            try:
                coerce_setting(spec, spec.default)
            except ValidationError as exc:
                raise StartupError(f"plugin {plugin!r}: default of {exc}") from None
            reg.settings[spec.key] = spec
            reg.setting_owner[spec.key] = plugin

    for plugin, result in call("register_reminders"):
        for reminder in _items(plugin, "register_reminders", result, Reminder):
            _add_callable(plugin, "reminder", reminder, reminder.sweep, "sweep", reg.reminders,
                          reg.reminder_owner)

    for plugin, result in call("register_jobs"):
        for kind in _items(plugin, "register_jobs", result, JobKind):
            _add_callable(plugin, "job kind", kind, kind.run, "run", reg.jobs, reg.job_owner)

    for plugin, result in call("register_models"):
        models = _items(plugin, "register_models", result, type)
        for model in models:
            table = getattr(model, "__table__", None)
            if table is None:
                raise StartupError(f"plugin {plugin!r}: {model!r} is not a mapped model")
            _check_prefix(plugin, "table", table.name, "_")
            reg.model_owner[model] = plugin
        reg.models[plugin] = models

    for plugin, result in call("register_blueprints"):
        for bp in _items(plugin, "register_blueprints", result, object):
            if plugin != CORE_KEY:
                _check_prefix(plugin, "blueprint", bp.name, "_")
            reg.blueprints.append((plugin, bp))

    for plugin, result in call("register_api_blueprints"):
        for bp in _items(plugin, "register_api_blueprints", result, object):
            if not bp.name.startswith(f"{plugin}_api"):
                raise StartupError(f"plugin {plugin!r}: API blueprint {bp.name!r} must be named "
                                   f"{plugin}_api or {plugin}_api_*")
            reg.api_blueprints.append((plugin, bp))

    endpoints: set[str] = set()
    for plugin, result in call("register_admin_views"):
        for view in _items(plugin, "register_admin_views", result, (AdminView, AdminLink)):
            if isinstance(view, AdminLink):
                if view.permission not in reg.permissions:
                    raise StartupError(f"plugin {plugin!r}: admin link {view.name!r} names "
                                       f"unknown permission {view.permission!r}")
                reg.admin_links.append((plugin, view))
                continue
            if plugin != CORE_KEY:
                _check_prefix(plugin, "admin endpoint", view.endpoint, "_")
            if view.endpoint in endpoints:
                raise StartupError(
                    f"plugin {plugin!r}: admin endpoint {view.endpoint!r} declared twice"
                )
            if view.permission not in reg.permissions:
                raise StartupError(
                    f"plugin {plugin!r}: admin view {view.name!r} names unknown permission "
                    f"{view.permission!r}"
                )
            endpoints.add(view.endpoint)
            reg.admin_views.append((plugin, view))

    for plugin, result in call("register_dashboard_widgets"):
        for widget in _items(plugin, "register_dashboard_widgets", result, DashboardWidget):
            if widget.permission not in reg.permissions:
                raise StartupError(
                    f"plugin {plugin!r}: widget {widget.key!r} names unknown permission "
                    f"{widget.permission!r}"
                )
            reg.widgets.append((plugin, widget))

    for plugin, result in call("register_migrations"):
        for branch in _items(plugin, "register_migrations", result, MigrationBranch):
            if branch.label != plugin:
                raise StartupError(
                    f"plugin {plugin!r}: migration branch label must be {plugin!r}, "
                    f"got {branch.label!r}"
                )
            if not branch.directory.is_dir():
                raise StartupError(
                    f"plugin {plugin!r}: migration directory {branch.directory} does not exist"
                )
            reg.migrations.append((plugin, branch))
    _build_records(reg, call)
    _build_link_kinds(reg, call)
    return reg


def _build_records(reg: Registry, call) -> None:  # type: ignore[no-untyped-def]
    for plugin, result in call("register_audit_event_kinds"):
        for kind in _items(plugin, "register_audit_event_kinds", result, AuditEventKind):
            if plugin != CORE_KEY:
                _check_prefix(plugin, "audit event kind", kind.key, ".")
            if kind.key in reg.audit_event_kinds:
                raise StartupError(f"plugin {plugin!r}: audit event kind {kind.key!r} declared "
                                   "twice")
            reg.audit_event_kinds[kind.key] = kind
    for plugin, result in call("register_signature_meanings"):
        for meaning in _items(plugin, "register_signature_meanings", result, SignatureMeaning):
            if meaning.key in reg.signature_meanings:
                raise StartupError(f"plugin {plugin!r}: signature meaning {meaning.key!r} "
                                   "declared twice")
            reg.signature_meanings[meaning.key] = meaning
    for plugin, result in call("register_workflows"):
        for workflow in _items(plugin, "register_workflows", result, Workflow):
            _check_prefix(plugin, "workflow", workflow.key, "_")
            if workflow.key in reg.workflows:
                raise StartupError(f"plugin {plugin!r}: workflow {workflow.key!r} declared twice")
            check_workflow(plugin, workflow, reg)
            reg.workflows[workflow.key] = workflow
    for plugin, result in call("register_record_types"):
        for rt in _items(plugin, "register_record_types", result, RecordType):
            _check_prefix(plugin, "record type", rt.key, "_")
            if rt.key in reg.record_types:
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r} declared twice")
            if rt.workflow not in reg.workflows:
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r} names unknown "
                                   f"workflow {rt.workflow!r}")
            if not (isinstance(rt.model, type) and issubclass(rt.model, Record)):
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: model must "
                                   "subclass core.Record")
            identity = rt.model.__mapper__.polymorphic_identity
            if identity != rt.key:
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: model's "
                                   f"polymorphic_identity is {identity!r}")
            columns = {a.key for a in rt.model.__mapper__.column_attrs}
            missing = [f for f in rt.controlled_fields if f not in columns]
            if missing:
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: unknown "
                                   f"controlled fields {missing}")
            owned = reg.models.get(plugin, [])
            for item in rt.items:
                if not (isinstance(item, type) and issubclass(item, RecordItem)
                        and item in owned):
                    raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: item model "
                                       f"{item!r} must subclass core.RecordItem and be one of "
                                       "the plugin's models")
            dues = {**({None: rt.due_field} if rt.due_field else {}), **rt.due_by_state}
            for state, due in dues.items():
                if (state is not None and (rt.due_field is None or state not in reg.workflows[
                        rt.workflow].states)) or _python_type(rt.model, due) not in (date,
                                                                                    datetime):
                    raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: due field "
                                       f"{due!r} (state {state}) is not a date column of the "
                                       "model, or its state is unknown or has no due_field")
            for t in reg.workflows[rt.workflow].transitions:
                unsigned = [f for f in t.signs if f not in rt.controlled_fields]
                if unsigned:
                    raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: transition "
                                       f"{t.name!r} signs fields that are not controlled: "
                                       f"{unsigned}")
            if rt.escalate_to_role is not None and rt.escalate_to_role not in reg.roles:
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: "
                                   f"escalate_to_role names unknown role {rt.escalate_to_role!r}")
            named = {*rt.list_columns, *rt.labels, *rt.help_texts, *rt.field_order, *rt.choices,
                     *rt.create_fields}
            unknown = sorted(named - columns - {a.key for a in
                                                rt.model.__mapper__.relationships})
            if unknown:
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: admin "
                                   f"declarations name unknown fields {unknown}")
            if rt.scope_parent is not None and rt.scope_parent not in columns:
                raise StartupError(f"plugin {plugin!r}: record type {rt.key!r}: unknown "
                                   f"scope_parent column {rt.scope_parent!r}")
            for perm in (rt.view_permission, rt.manage_permission):
                if perm is not None and perm not in reg.permissions:
                    raise StartupError(f"plugin {plugin!r}: record type {rt.key!r} names unknown "
                                       f"permission {perm!r}")
            check_critical_fields(plugin, rt, reg.workflows[rt.workflow])
            check_corrections(plugin, rt, reg.workflows[rt.workflow])
            check_retention(plugin, rt)
            check_phi_fields(plugin, rt)
            reg.record_types[rt.key] = rt
            reg.record_type_owner[rt.key] = plugin


def _build_link_kinds(reg: Registry, call) -> None:  # type: ignore[no-untyped-def]
    """Link kinds, after the record types they name."""
    for plugin, result in call("register_link_kinds"):
        for kind in _items(plugin, "register_link_kinds", result, LinkKind):
            where = f"plugin {plugin!r}: link kind {kind.key!r}"
            if kind.key in reg.link_kinds:
                raise StartupError(f"{where} declared twice")
            if not kind.key or len(kind.key) > 40 or not kind.key.replace("_", "").isalnum():
                raise StartupError(f"{where}: a key of letters, digits and _ (at most 40)")
            if kind.cardinality not in LINK_CARDINALITIES:
                raise StartupError(f"{where}: cardinality must be one of "
                                   f"{', '.join(LINK_CARDINALITIES)}")
            # Another plugin's types may be absent (not installed): the kind then never applies
            # to them. The declaring plugin's own must exist.
            unknown = [t for t in (*kind.source_types, *kind.target_types)
                       if t not in reg.record_types and t.startswith(plugin + "_")]
            if unknown:
                raise StartupError(f"{where} names unknown record type {unknown[0]!r}")
            reg.link_kinds[kind.key] = kind


def _python_type(model: type, name: str) -> Any:
    prop = model.__mapper__.column_attrs.get(name)  # type: ignore[attr-defined]
    if prop is None:
        return None
    try:
        return prop.columns[0].type.python_type
    except NotImplementedError:
        return None
