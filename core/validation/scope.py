"""Requirement scope files: what the core and each plugin claim of the catalogue, and why not.

Each component ships ``requirements.yaml`` beside its code::

    claimed:
      P11-05: [sqlite, postgresql]   # proven by passing tests on each backend named
      SEC-05: any                    # proven by a passing test, whatever its backend
    not_claimed:
      P11-20: "Procedural (a letter to the FDA): outside the software."

The core's file accounts for every catalogue ID (claimed by some component, or not claimed
with a reason); a plugin's file lists what it claims and, for IDs of its domain it leaves out,
why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.plugins import installed_entry_points
from core.validation.catalogue import Requirement, catalogue
from core.validation.inventory import CORE_DIR, package_dir

SCOPE_FILE = "requirements.yaml"
BACKENDS = ("sqlite", "postgresql")
ANY = "any"


class ScopeError(ValueError):
    """A scope file is malformed or names an ID the catalogue does not have."""


@dataclass(frozen=True)
class Scope:
    component: str
    path: Path
    claimed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ID -> backends or ("any",)
    not_claimed: dict[str, str] = field(default_factory=dict)  # ID -> reason


def _backends(where: str, value: Any) -> tuple[str, ...]:
    if value == ANY:
        return (ANY,)
    if (not isinstance(value, list) or not value
            or any(b not in BACKENDS for b in value) or len(set(value)) != len(value)):
        raise ScopeError(f"{where}: backends must be 'any' or a list of {', '.join(BACKENDS)}")
    return tuple(value)


def parse_scope(component: str, path: Path, text: str,
                known: dict[str, Requirement] | None = None) -> Scope:
    known = catalogue() if known is None else known
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ScopeError(f"{path}: not YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or set(data) - {"claimed", "not_claimed"}:
        raise ScopeError(f"{path}: the keys are 'claimed' and 'not_claimed'")
    claimed_raw = data.get("claimed") or {}
    reasons_raw = data.get("not_claimed") or {}
    if not isinstance(claimed_raw, dict) or not isinstance(reasons_raw, dict):
        raise ScopeError(f"{path}: 'claimed' and 'not_claimed' map IDs to values")
    for rid in [*claimed_raw, *reasons_raw]:
        if rid not in known:
            raise ScopeError(f"{path}: {rid} is not in the requirements catalogue")
    both = sorted(set(claimed_raw) & set(reasons_raw))
    if both:
        raise ScopeError(f"{path}: {both[0]} is both claimed and not claimed")
    claimed = {rid: _backends(f"{path}: {rid}", value) for rid, value in claimed_raw.items()}
    not_claimed: dict[str, str] = {}
    for rid, reason in reasons_raw.items():
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            raise ScopeError(f"{path}: {rid} needs a reason (a sentence) for not being claimed")
        not_claimed[rid] = reason.strip()
    return Scope(component, path, claimed, not_claimed)


def scope_files() -> dict[str, Path]:
    """``{"core": core/requirements.yaml, "documents": plugins/documents/requirements.yaml, ...}``
    for the core and every installed plugin that ships one."""
    files = {"core": CORE_DIR / SCOPE_FILE}
    for key, ep in sorted(installed_entry_points().items()):
        directory = package_dir(ep.value)
        if directory is not None and (directory / SCOPE_FILE).is_file():
            files[key] = directory / SCOPE_FILE
    return files


def load_scopes() -> list[Scope]:
    return [parse_scope(component, path, path.read_text(encoding="utf-8"))
            for component, path in scope_files().items()]


def unaccounted(scopes: list[Scope], known: dict[str, Requirement] | None = None) -> list[str]:
    """Catalogue IDs nobody claims and nobody explains."""
    known = catalogue() if known is None else known
    covered = {rid for scope in scopes for rid in [*scope.claimed, *scope.not_claimed]}
    return [rid for rid in known if rid not in covered]
