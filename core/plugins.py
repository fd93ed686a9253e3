"""The plugin host: one pluggy manager per app, allow-listed loading, enabled state in the DB."""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy
from sqlalchemy import Boolean, String, select
from sqlalchemy.orm import Mapped, mapped_column

from core import hookspecs
from core.audit.context import audit_reason
from core.config_versions import record_config_version
from core.db import Base, UTCDateTime, db, utcnow
from core.errors import ConflictError, StartupError, ValidationError
from core.settings import refuse_direct_change
from core.specs import PluginInfo
from core.stamps import forget_for_use, kept_for_use

ENTRY_POINT_GROUP = "cqms.plugins"
CORE_KEY = "core"
PLUGIN_STATES = "cqms_plugin_states"  # g / session.info slot of the states (core.stamps)
log = logging.getLogger("cqms.plugins")


class PluginState(Base):
    """Whether an allowed plugin is enabled; absent means the configured default."""

    __tablename__ = "core_plugin_state"
    __audit__ = True

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def audit_label(self) -> str:
        return self.key


def installed_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _describe(obj: Any) -> tuple[str, str]:
    """Title line and description from the plugin package's docstring (or the object's own)."""
    doc = None
    name = getattr(obj, "__name__", "")
    if inspect.ismodule(obj) and name.endswith(".plugin"):
        doc = inspect.getdoc(sys.modules.get(name.rpartition(".")[0]))
    doc = doc or inspect.getdoc(obj) or ""
    title, _, rest = doc.strip().partition("\n")
    return title.strip().rstrip("."), rest.strip()


class PluginHost:
    """Loads the allowed plugins into a fresh pluggy manager and answers enabled-state questions."""

    def __init__(
        self,
        allowed: Iterable[str],
        *,
        core: ModuleType,
        enable_gate: Callable[[str], None],
        extra_plugins: Mapping[str, Any] | None = None,
        enabled_by_default: bool = True,
    ):
        self.allowed: list[str] = list(allowed)
        self.enabled_by_default = enabled_by_default
        # Raises when a plugin may not be enabled yet (the validation gate); given by the app.
        self.enable_gate = enable_gate
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        # Hook callers of the enabled plugins, for the disabled set they were made for.
        self._enabled_callers: tuple[frozenset[str], dict[str, pluggy.HookCaller]] = (
            frozenset(), {})
        installed = installed_entry_points()
        extra = dict(extra_plugins or {})
        # Reported, never imported: installed entry points this deployment does not allow.
        self.not_allowed = sorted((set(installed) | set(extra)) - set(self.allowed))
        for key in self.not_allowed:
            log.info("plugin %r is installed but not in PLUGINS; not loaded", key)
        self._register(CORE_KEY, core, version=_dist_version(), builtin=True)
        for key in self.allowed:
            if key == CORE_KEY:
                raise StartupError("PLUGINS: 'core' is always loaded and must not be listed")
            if key in extra:
                obj = extra[key]
                self._register(key, obj, version=str(getattr(obj, "__version__", "0")))
            elif key in installed:
                ep = installed[key]
                try:
                    obj = ep.load()
                except Exception as exc:  # noqa: BLE001 - report which plugin failed to import
                    raise StartupError(f"plugin {key!r}: cannot be imported: {exc}") from exc
                version = ep.dist.version if ep.dist else "0"
                builtin = ep.value.startswith("plugins.")
                self._register(key, obj, version=version, builtin=builtin)
            else:
                raise StartupError(f"plugin {key!r} is listed in PLUGINS but is not installed")
        self._check_requires()
        self._add_plugin_hookspecs()
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            raise StartupError(f"plugin {name!r}: {exc}") from None

    def _register(self, key: str, obj: Any, *, version: str, builtin: bool = False) -> None:
        title, description = _describe(obj)
        try:
            self.pm.register(obj, name=key)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise StartupError(f"plugin {key!r}: {exc}") from None
        hooks = tuple(sorted(impl_name for impl_name in _implemented_hooks(self.pm, obj)))
        requires = tuple(getattr(obj, "REQUIRES", ()))
        if key == CORE_KEY:
            title, description = "CQMS core", "Accounts, access control, audit trail and admin."
        self.plugins[key] = PluginInfo(
            key=key,
            title=title or key,
            description=description,
            version=version,
            module=obj,
            requires=requires,
            builtin=builtin,
            hooks=hooks,
        )

    def _check_requires(self) -> None:
        for info in self.plugins.values():
            for needed in info.requires:
                if needed not in self.plugins:
                    raise StartupError(
                        f"plugin {info.key!r} requires plugin {needed!r}, which is not in PLUGINS"
                    )

    def _add_plugin_hookspecs(self) -> None:
        """Hooks plugins offer each other (``register_hookspecs``), named ``<key>_*``."""
        for key, result in self.results_by_plugin("register_hookspecs"):
            for holder in (result or []):
                marker = f"{hookspecs.PROJECT}_spec"
                names = [n for n in dir(holder) if hasattr(getattr(holder, n), marker)]
                wrong = [n for n in names if not n.startswith(f"{key}_")]
                if wrong or not names:
                    raise StartupError(f"plugin {key!r}: hookspecs must be named '{key}_*' "
                                       f"(got {', '.join(wrong) or 'none'})")
                self.pm.add_hookspecs(holder)

    # -- calling hooks ----------------------------------------------------------------------

    def hook_for_enabled(self, name: str) -> pluggy.HookCaller:
        """Hook ``name`` reaching the enabled plugins only, called as pluggy calls any hook
        (``tryfirst``/``trylast``, wrappers, ``firstresult``): for every lifecycle and request
        hook. Resolve it inside the transaction whose after-commit reaction calls it."""
        disabled = frozenset(key for key in self.plugins if not self.is_enabled(key))
        cached_for, callers = self._enabled_callers
        if cached_for != disabled:  # the enabled set changed (on any worker): start afresh
            callers = {}
            self._enabled_callers = (disabled, callers)
        caller = callers.get(name)
        if caller is None:
            removed = [self.pm.get_plugin(key) for key in disabled]
            caller = callers[name] = self.pm.subset_hook_caller(name, removed)
        return caller

    def hook_implemented(self, name: str) -> bool:
        """Whether an enabled plugin implements hook ``name`` (e.g. one another plugin offers)."""
        if getattr(self.pm.hook, name, None) is None:
            return False
        return bool(self.hook_for_enabled(name).get_hookimpls())

    def hook_of(self, key: str, name: str) -> pluggy.HookCaller:
        """Hook ``name`` reaching plugin ``key`` alone (its own wrappers included)."""
        others = [plugin for other, plugin in self.pm.list_name_plugin() if other != key]
        return self.pm.subset_hook_caller(name, others)

    def results_by_plugin(self, name: str, *, enabled_only: bool = False,
                          **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin key, result)`` of each plugin implementing hook ``name``, in load order:
        for declarations the core attributes to their plugin (``register_*``, every loaded
        plugin) and for ``cqms demo`` (``enabled_only``: documents before training)."""
        keys = self.enabled_keys() if enabled_only else list(self.plugins)
        results = []
        for key in keys:
            caller = self.hook_of(key, name)
            if not caller.get_hookimpls():
                continue
            answer = caller(**kwargs)
            if not (caller.spec and caller.spec.opts.get("firstresult")):
                answer = answer[0] if answer else None
            results.append((key, answer))
        return results

    # -- enabled state ----------------------------------------------------------------------

    def _stored_states(self) -> dict[str, bool]:
        """Kept by the process while no plugin was switched (core.stamps), looked up once per
        request; outside one (CLI, scheduler) once per transaction."""
        return kept_for_use("plugins", PLUGIN_STATES, _read_states)

    def is_enabled(self, key: str) -> bool:
        if key == CORE_KEY:
            return True
        if key not in self.plugins:
            return False
        return self._stored_states().get(key, self.enabled_by_default)

    def enabled_keys(self) -> list[str]:
        return [key for key in self.plugins if self.is_enabled(key)]

    def set_enabled(self, key: str, enabled: bool, reason: str, *,
                    approved_change: Any = None) -> bool:
        """Enable or disable a plugin in the current transaction, as a new configuration
        version; returns False if unchanged. ``approved_change``: the approved configuration
        change being activated (required when approval is)."""
        if key == CORE_KEY:
            raise ValidationError({"key": "The core cannot be disabled."})
        if key not in self.plugins:
            raise ValidationError({"key": f"Plugin {key!r} is not allowed in this deployment."})
        if not reason or not reason.strip():
            raise ValidationError({"reason": "A reason is required."})
        if self.is_enabled(key) == enabled:
            return False
        refuse_direct_change(f"Plugin {key}", approved_change)
        if enabled:
            missing = [r for r in self.plugins[key].requires if not self.is_enabled(r)]
            if missing:
                raise ConflictError(
                    f"Cannot enable {key!r}: it requires {', '.join(map(repr, missing))}; "
                    "enable that first."
                )
            self.enable_gate(key)
        else:
            dependants = [
                other.key
                for other in self.plugins.values()
                if key in other.requires and self.is_enabled(other.key)
            ]
            if dependants:
                raise ConflictError(
                    f"Cannot disable {key!r}: {', '.join(map(repr, dependants))} requires it; "
                    "disable that first."
                )
        with audit_reason(reason.strip()):
            row = db.session.get(PluginState, key)
            if row is None:
                db.session.add(PluginState(key=key, enabled=enabled))
            else:
                row.enabled = enabled
            db.session.flush()
            record_config_version("plugin", key, not enabled, enabled,
                                  getattr(approved_change, "id", None))
            if enabled:  # a plugin enabled after `cqms db upgrade` gets its first list entries
                self.hook_of(key, "seed_reference_data")()
        forget_for_use(PLUGIN_STATES)
        return True

    def owner_of(self, name: str) -> str | None:
        """The plugin owning a blueprint or endpoint name (``<key>`` or ``<key>_*``)."""
        for key in self.plugins:
            if key != CORE_KEY and (name == key or name.startswith(key + "_")):
                return key
        return None


def call_hook(name: str, **kwargs: Any) -> Any:
    """Call hook ``name`` on the enabled plugins of the current app and return the results (the
    first one for a ``firstresult`` hook): for the hooks plugins offer each other
    (``register_hookspecs``).

    :param name: the hook, e.g. ``documents_version_effective``.
    :param kwargs: its arguments, by name.
    """
    from flask import current_app

    return current_app.extensions["cqms"].host.hook_for_enabled(name)(**kwargs)


def hook_implemented(name: str) -> bool:
    """Whether an enabled plugin of the current app implements hook ``name``: ask it before
    calling a hook another plugin offers (training asks for ``documents_version_in_effect``).

    :param name: the hook, e.g. ``documents_version_in_effect``.
    """
    from flask import current_app

    return current_app.extensions["cqms"].host.hook_implemented(name)


def plugin_enabled(key: str) -> bool:
    """Deprecated (the host calls only enabled plugins; ask another plugin through its hooks
    with ``hook_implemented``): whether plugin ``key`` is loaded and enabled.

    :param key: the plugin key, e.g. ``documents``.
    """
    from flask import current_app

    return current_app.extensions["cqms"].host.is_enabled(key)


def _implemented_hooks(pm: pluggy.PluginManager, obj: Any) -> list[str]:
    return [caller.name for caller in pm.get_hookcallers(obj) or []]


def _dist_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cqms")
    except PackageNotFoundError:
        return "0"


def _read_states() -> dict[str, bool]:
    with db.session.no_autoflush:  # asked mid-change too (hooks resolved in a transaction)
        return {row.key: row.enabled for row in db.session.scalars(select(PluginState))}

