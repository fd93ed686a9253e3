"""Reading, parsing and applying the value a configuration change is about."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app

from core.config_changes.roles import set_role_permissions
from core.errors import ValidationError
from core.settings import coerce_setting, get_setting, set_setting
from core.users.models import Role

ON = frozenset({"enabled", "enable", "on", "true", "yes"})
OFF = frozenset({"disabled", "disable", "off", "false", "no"})


def _cqms() -> Any:
    return current_app.extensions["cqms"]


def _role(key: str) -> Role:
    role = Role.by_key(key)
    if role is None:
        raise ValidationError({"target": f"There is no role {key!r}: give a role's key, "
                                         "e.g. qa_manager."})
    return role


def current_value(kind: str, target: str) -> Any:
    """The value in force now: a setting's value, a role's sorted permissions, a plugin's
    enabled state."""
    if kind == "setting":
        return get_setting(target)
    if kind == "role":
        return _role(target).permission_names
    return _cqms().host.is_enabled(target)


def _role_permissions(role: Role, text: str) -> list[str]:
    """The role's permissions after the change: the whole list, or only ``+name``/``-name``
    changes to the current one."""
    tokens = [t for t in re.split(r"[\s,;]+", text) if t]
    if tokens and all(t[0] in "+-" for t in tokens):
        names = set(role.permission_names)
        names |= {t[1:] for t in tokens if t[0] == "+"}
        names -= {t[1:] for t in tokens if t[0] == "-"}
    else:
        names = set(tokens)
    unknown = sorted(names - set(_cqms().registry.permissions))
    if unknown:
        raise ValidationError({"proposed_value": f"Unknown permission: {', '.join(unknown)}."})
    return sorted(names)


def proposed(kind: str, target: str, text: str) -> Any:
    """The typed value ``text`` proposes for ``target``; ValidationError naming the field."""
    if kind == "setting":
        spec = _cqms().registry.settings.get(target)
        if spec is None or not spec.admin_editable:
            raise ValidationError({"target": f"There is no setting {target!r} an administrator "
                                             "can change."})
        try:
            return coerce_setting(spec, text)
        except ValidationError as exc:
            raise ValidationError({"proposed_value": next(iter(exc.errors.values()))}) from None
    if kind == "role":
        return _role_permissions(_role(target), text)
    if kind == "plugin":
        if target not in _cqms().host.plugins or target == "core":
            raise ValidationError({"target": f"There is no plugin {target!r} that can be "
                                             "enabled or disabled here."})
        word = text.strip().lower()
        if word not in ON | OFF:
            raise ValidationError({"proposed_value": "Enter enabled or disabled."})
        return word in ON
    raise ValidationError({"kind": "Choose what to change: a setting, a role or a plugin."})


def apply(change: Any, reason: str) -> None:
    """Make the change's new value the configuration (as the approved ``change``)."""
    new = json.loads(change.new_value)
    if change.kind == "setting":
        set_setting(change.target, new, approved_change=change)
    elif change.kind == "role":
        set_role_permissions(_role(change.target), set(new), approved_change=change)
    else:
        _cqms().host.set_enabled(change.target, new, reason, approved_change=change)
