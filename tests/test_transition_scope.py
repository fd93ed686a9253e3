"""A transition may move its own record only: an effect that assigns another record's state is
refused; an effect that moves another record through ``transition()`` is checked and audited
as its own transition."""

from __future__ import annotations

import dataclasses

import pytest
from kernel_plugin import TRANSITIONS, WORKFLOW, AcmeWidget, make_plugin
from sqlalchemy import select

from core import (
    SignatureRequest,
    WorkflowError,
    attest,
    create_record,
    transition,
)
from core.audit.models import AuditEntry
from core.db import db
from core.hookspecs import hookimpl
from core.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def _approve_also(sibling_effect):  # type: ignore[no-untyped-def]
    """The kernel workflow whose ``approve`` runs ``sibling_effect`` on the other widget."""
    transitions = tuple(dataclasses.replace(t, effects=(sibling_effect,)) if t.name == "approve"
                        else t for t in TRANSITIONS)
    return dataclasses.replace(WORKFLOW, transitions=transitions)


def _assign_state(record, user):  # type: ignore[no-untyped-def]
    other = db.session.scalar(select(AcmeWidget).where(AcmeWidget.id != record.id))
    other.state = "approved"  # no transition, permission or signature for this one


def _transition_other(record, user):  # type: ignore[no-untyped-def]
    other = db.session.scalar(select(AcmeWidget).where(AcmeWidget.id != record.id))
    transition(other, "submit", user)  # checked for this user like any transition


@pytest.fixture(params=["assign", "transition"])
def effect(request):  # type: ignore[no-untyped-def]
    return request.param


@pytest.fixture
def app(app_factory, temp_plugin, effect):  # type: ignore[no-untyped-def]
    workflow = _approve_also(_assign_state if effect == "assign" else _transition_other)
    plugin = make_plugin(temp_plugin)
    plugin.register_workflows = hookimpl(lambda: [workflow])
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        yield app


@pytest.mark.req("P11-08", "E6-14")
def test_an_effect_moves_another_record_only_through_its_transition(app, make_user, effect,
                                                                     cqms_backend):
    author, approver = make_user("alice", "author"), make_user("bob", "approver")
    attest(approver, DEFAULT_PASSWORD)
    widget = create_record("acme_widget", author, title="Widget", description="Blue")
    other = create_record("acme_widget", author, title="Other", description="Red")
    db.session.commit()
    transition(widget, "submit", author)
    db.session.commit()
    before = db.session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    if effect == "assign":
        with pytest.raises(WorkflowError, match=f"state of {other.number} changes only through"):
            transition(widget, "approve", approver, signature=SignatureRequest(DEFAULT_PASSWORD))
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)
                                 ) == before
        assert (db.session.get(AcmeWidget, widget.id).state,
                db.session.get(AcmeWidget, other.id).state) == ("in_review", "draft")
        return
    transition(widget, "approve", approver, signature=SignatureRequest(DEFAULT_PASSWORD))
    db.session.commit()
    assert (widget.state, db.session.get(AcmeWidget, other.id).state) == ("approved", "in_review")
    moved = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "transition", AuditEntry.entity_id == str(other.id))).all()
    assert [(e.field, e.old_value, e.new_value, e.actor_name) for e in moved] == [
        ("submit", "draft", "in_review", "Bob Tester (bob)")]
