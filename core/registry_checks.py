"""Start-up checks of a plugin's workflows: states, categories and transitions (the registry
refuses to start, naming the plugin, when one fails)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import StartupError
from core.specs import STATE_CATEGORIES, Workflow


def check_workflow(plugin: str, workflow: Workflow, reg: Any) -> None:
    """A workflow's states, categories and transitions name only what exists (start-up)."""
    states = set(workflow.states)
    where = f"plugin {plugin!r}: workflow {workflow.key!r}"
    if workflow.initial not in states:
        raise StartupError(f"{where}: initial state {workflow.initial!r} is not a state")
    check_categories(where, workflow)
    names = set()
    for t in workflow.transitions:
        if t.name in names:
            raise StartupError(f"{where}: transition {t.name!r} declared twice")
        names.add(t.name)
        for state in (*t.source, t.target):
            if state not in states:
                raise StartupError(f"{where}: transition {t.name!r} names unknown state {state!r}")
        if t.permission not in reg.permissions:
            raise StartupError(f"{where}: transition {t.name!r} names unknown permission "
                               f"{t.permission!r}")
        if t.automatic and t.signature is not None:
            raise StartupError(f"{where}: transition {t.name!r} is automatic: the system "
                               "principal cannot sign")
        if t.signs and t.signature is None:
            raise StartupError(f"{where}: transition {t.name!r} names the fields it signs but "
                               "takes no signature")
        if t.signature is not None and t.signature not in reg.signature_meanings:
            raise StartupError(f"{where}: transition {t.name!r} names unknown signature meaning "
                               f"{t.signature!r}")


def check_categories(where: str, workflow: Workflow) -> None:
    """Every state declares one of the categories the core counts, filters and checks by."""
    allowed = ", ".join(STATE_CATEGORIES)
    categories = workflow.categories
    if not isinstance(categories, Mapping):
        raise StartupError(f"{where}: categories must map each state to one of {allowed}")
    unknown = [s for s in categories if s not in workflow.states]
    if unknown:
        raise StartupError(f"{where}: categories name unknown state {unknown[0]!r}")
    for state in workflow.states:
        category = categories.get(state)
        if category is None:
            raise StartupError(f"{where}: state {state!r} declares no category (one of "
                               f"{allowed})")
        if category not in STATE_CATEGORIES:
            raise StartupError(f"{where}: state {state!r} has unknown category {category!r} "
                               f"(one of {allowed})")
