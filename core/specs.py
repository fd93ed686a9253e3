"""Frozen declarations that plugins return from ``register_*`` hooks; the core validates them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTING_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool}


@dataclass(frozen=True)
class Permission:
    """A named right, always prefixed with the plugin key: ``capa.close``."""

    name: str
    description: str


@dataclass(frozen=True)
class RoleTemplate:
    """A default role and the permissions it starts with (seeded once, then editable).

    A template with ``label=None`` extends a role declared by another plugin (or the core)
    with this plugin's permissions, e.g. ``RoleTemplate("author", None, ("documents.create",))``.
    """

    key: str
    label: str | None
    permissions: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class SettingSpec:
    """A runtime setting stored in the database, namespaced ``<key>.<name>``.

    ``type`` is one of ``"str"``, ``"int"``, ``"bool"``; ``choices`` limits a string,
    ``minimum``/``maximum`` bound an integer.
    """

    key: str
    type: str
    default: Any
    description: str
    admin_editable: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class AdminView:
    """An admin page. The core instantiates ``view``, wraps it with login and permission checks,
    and hides it while the plugin is disabled. ``endpoint`` must be ``<key>`` or ``<key>_*``."""

    view: type
    name: str
    endpoint: str
    permission: str
    model: type | None = None
    category: str | None = None
    order: int = 100


@dataclass(frozen=True)
class DashboardWidget:
    """A dashboard card: ``template`` rendered with ``context(user)`` for users holding
    ``permission``."""

    key: str
    title: str
    permission: str
    template: str
    context: Callable[[Any], dict[str, Any]]
    order: int = 100


@dataclass(frozen=True)
class MigrationBranch:
    """An Alembic branch: ``label`` is the plugin key, ``directory`` holds its revisions."""

    label: str
    directory: Path


@dataclass(frozen=True)
class PluginInfo:
    """What the host knows about one allowed plugin."""

    key: str
    title: str
    description: str
    version: str
    module: Any
    requires: tuple[str, ...] = ()
    builtin: bool = False
    hooks: tuple[str, ...] = field(default=())
