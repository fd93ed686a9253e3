"""A record signed in stages (``Transition.signs``): a later stage fills in fields the earlier
signature did not vouch for without invalidating it; a change to what it signed, or to the
title, scope or files, still invalidates it. Undeclared transitions sign everything."""

from __future__ import annotations

import pytest
from kernel_plugin import AcmeWidget, make_plugin
from sqlalchemy import select

from core import (
    ConflictError,
    RecordType,
    SignatureRequest,
    StartupError,
    Transition,
    Workflow,
    attest,
    create_record,
    db,
    signatures_of,
    transition,
    update_record,
)
from core.hookspecs import hookimpl
from core.testing import DEFAULT_PASSWORD
from core.users.models import User

STAGED = Workflow(
    "acme_widget", ("draft", "approved", "checked"), "draft",
    (Transition("approve", ("draft",), "approved", "acme.approve", signature="approved",
                signs=("description",)),
     Transition("check", ("approved",), "checked", "acme.approve", signature="verified")),
    categories={"draft": "draft", "approved": "open", "checked": "closed"})


def staged_plugin(temp_plugin, workflow=STAGED):  # type: ignore[no-untyped-def]
    plugin = make_plugin(temp_plugin, rt_options={})
    plugin.register_workflows = hookimpl(lambda: [workflow])
    plugin.register_record_types = hookimpl(lambda: [RecordType(
        "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
        controlled_fields=("description", "notes"), view_permission="acme.edit",
        manage_permission="acme.edit")])
    return plugin


@pytest.fixture
def app(app_factory, temp_plugin):
    app = app_factory(plugins=["acme"], extra_plugins={"acme": staged_plugin(temp_plugin)})
    with app.app_context():
        yield app


def approved_widget(make_user):  # type: ignore[no-untyped-def]
    author, approver = make_user("alice", "author"), make_user("bob", "approver")
    attest(approver, DEFAULT_PASSWORD)
    widget = create_record("acme_widget", author, title="Pump", description="Moves water")
    db.session.commit()
    transition(widget, "approve", approver, signature=SignatureRequest(DEFAULT_PASSWORD))
    db.session.commit()
    return widget, author


@pytest.mark.req("P11-05")
def test_a_later_stage_keeps_the_earlier_signature_valid(app, make_user):
    widget, author = approved_widget(make_user)
    update_record(widget, author, expected_version=widget.version, reason="Check planned",
                  notes="Measure flow for a month")
    db.session.commit()
    [signature] = signatures_of(widget)
    assert signature.invalidated_at is None  # notes were not what the approval vouched for


@pytest.mark.req("P11-05")
@pytest.mark.parametrize("change", [{"description": "Moves oil"}, {"title": "Big pump"}])
def test_changing_what_it_signed_or_the_title_invalidates_it(app, make_user, change):
    widget, author = approved_widget(make_user)
    update_record(widget, author, expected_version=widget.version, reason="Changed",
                  **change)
    db.session.commit()
    [signature] = signatures_of(widget)
    assert signature.invalidated_reason == "signed content changed"


def test_signing_fields_that_are_not_controlled_stops_start_up(app_factory, temp_plugin):
    wrong = Workflow(STAGED.key, STAGED.states, STAGED.initial,
                     (Transition("approve", ("draft",), "approved", "acme.approve",
                                 signature="approved", signs=("colour",)),),
                     categories=STAGED.categories)
    with pytest.raises(StartupError, match=r"signs fields that are not controlled: \['colour'\]"):
        app_factory(plugins=["acme"], schema=False,
                    extra_plugins={"acme": staged_plugin(temp_plugin, wrong)})


COUNTERSIGNED = Workflow(
    "acme_widget", ("draft", "approved"), "draft",
    (Transition("approve", ("draft",), "approved", "acme.approve", signature="approved"),
     Transition("countersign", ("approved",), "approved", "acme.approve",
                signature="approved")),
    categories={"draft": "draft", "approved": "closed"})


@pytest.mark.req("P11-05")
def test_a_signed_step_that_keeps_the_state_moves_the_version_so_a_racing_edit_fails(
        app_factory, temp_plugin, make_user):
    plugin = staged_plugin(temp_plugin, COUNTERSIGNED)
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        widget, author = approved_widget(make_user)
        approver = db.session.scalar(select(User).where(User.username == "bob"))
        loaded = widget.version  # an edit form opened now
        # The same approver signs again: neither the state nor the updater changes.
        transition(widget, "countersign", approver, signature=SignatureRequest(DEFAULT_PASSWORD))
        db.session.commit()
        assert widget.version == loaded + 1
        with pytest.raises(ConflictError):
            update_record(widget, author, expected_version=loaded, reason="Late edit",
                          description="Moves oil")
        db.session.rollback()
        assert all(s.invalidated_at is None for s in signatures_of(widget))
