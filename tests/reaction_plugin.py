"""Plugins ``spy`` and ``flaky`` reacting to created widgets, for the durable-reaction tests:
``spy`` writes an audited ``spy.reacted`` event; ``flaky`` raises while ``FLAKY["broken"]``."""

from __future__ import annotations

import types
from typing import Any

from core import AuditEventKind, record_event
from core.hookspecs import hookimpl

FLAKY = {"broken": True}


def _module(key: str, **members: Any) -> types.ModuleType:
    module = types.ModuleType(f"cqms_test_plugin_{key}", f"Test plugin {key}.")
    for name, value in members.items():
        setattr(module, name, hookimpl(value))
    return module


def _spy_created(record):  # type: ignore[no-untyped-def]
    record_event("spy.reacted", record.audit_entity_type, record.id, new=record.number)


def _flaky_created(record):  # type: ignore[no-untyped-def]
    if FLAKY["broken"]:
        raise RuntimeError(f"the mail relay is down (reacting to {record.number})")
    record_event("flaky.reacted", record.audit_entity_type, record.id, new=record.number)


def spy() -> types.ModuleType:
    return _module("spy", record_created=_spy_created, register_audit_event_kinds=lambda: [
        AuditEventKind("spy.reacted", "Spy reacted")])


def flaky() -> types.ModuleType:
    return _module("flaky", record_created=_flaky_created, register_audit_event_kinds=lambda: [
        AuditEventKind("flaky.reacted", "Flaky reacted")])
