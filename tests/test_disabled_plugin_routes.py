"""A disabled plugin's records do not exist on any route (issue 12, item 14a).

Every API route naming a record of a disabled plugin (by type and id, or by number) answers 404,
found by walking the URL map so that a new route is covered without editing this test; so do
its admin record pages and file downloads. Its records are left out of what enabled records
show (links in both directions), of task lists and of the audit trail. Enabling the plugin
again shows everything as before: the walk is not vacuous.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from kernel_plugin import make_plugin
from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from core import (
    Permission,
    Record,
    RecordType,
    RoleTemplate,
    Transition,
    Workflow,
    add_attachment,
    create_record,
    link_records,
    may_read,
    open_task,
)
from core.audit.context import audit_context
from core.db import db
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.users.service import system_context

API = "/api/v1"
RECORD_BLUEPRINTS = ("core_api_records", "core_api_audit")
RECORD_ARGUMENTS = {"type_key", "record_id", "number"}


class BetaItem(Record):
    """A record type of a second, enabled plugin, to link to and from the disabled one's."""

    __tablename__ = "beta_item"
    __mapper_args__ = {"polymorphic_identity": "beta_item"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)


def beta_plugin(temp_plugin):
    return temp_plugin(
        "beta",
        register_models=lambda: [BetaItem],
        register_permissions=lambda: [Permission("beta.edit", "Edit items")],
        register_roles=lambda: [RoleTemplate("qa_manager", None, ("beta.edit",))],
        register_workflows=lambda: [Workflow(
            "beta_item", ("open", "closed"), "open",
            (Transition("close", ("open",), "closed", "beta.edit"),),
            categories={"open": "open", "closed": "closed"})],
        register_record_types=lambda: [RecordType(
            "beta_item", "Item", BetaItem, "BET", "beta_item", view_permission="beta.edit",
            manage_permission="beta.edit")],
    )


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme", "beta"],
            "extra_plugins": {"acme": make_plugin(temp_plugin), "beta": beta_plugin(temp_plugin)}}


def set_enabled(app: Flask, key: str, enabled: bool) -> None:
    ctx = system_context("pytest")
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, client=ctx.client):
        app.extensions["cqms"].host.set_enabled(key, enabled, "Route walk")
        db.session.commit()


@pytest.fixture
def world(app, make_user):
    """Quinn (QA manager and approver: every permission involved, the audit trail included), a
    widget of plugin acme with a file and a task, and two items of plugin beta linked to the
    widget and from it."""
    quinn = make_user("quinn", "qa_manager", "approver")
    widget = create_record("acme_widget", quinn, title="Pump", description="Blue")
    db.session.flush()
    attachment = add_attachment(widget, quinn, "spec.txt", io.BytesIO(b"pump spec"),
                                declared_type="text/plain")
    pointing = create_record("beta_item", quinn, title="Points at the pump")
    pointed = create_record("beta_item", quinn, title="Pointed at by the pump")
    db.session.flush()
    link_records(pointing, widget, "relates_to", quinn)
    link_records(widget, pointed, "relates_to", quinn)
    open_task(widget, "acme.check", "Check the pump", assignee=quinn, by=quinn)
    db.session.commit()
    return {"quinn": quinn, "widget": widget, "attachment": attachment,
            "pointing": pointing, "pointed": pointed}


def bearer(client) -> dict[str, str]:
    answer = client.post(f"{API}/auth/tokens", json={"username": "quinn",
                                                     "password": DEFAULT_PASSWORD})
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def record_api_calls(app: Flask, widget: Any, attachment: Any) -> list[tuple[str, str]]:
    """(method, URL) of every API route naming a record, filled in with the widget."""
    values = {"type_key": "acme_widget", "record_id": widget.id, "number": widget.number,
              "attachment_id": attachment.id, "name": "nonesuch", "link_id": 1}
    calls = []
    with app.test_request_context():
        adapter = app.url_map.bind("localhost")
        for rule in app.url_map.iter_rules():
            if (rule.endpoint.partition(".")[0] not in RECORD_BLUEPRINTS
                    or not rule.arguments & RECORD_ARGUMENTS):
                continue
            url = adapter.build(rule.endpoint, {a: values[a] for a in rule.arguments})
            calls += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return calls


def admin_calls(app: Flask, widget: Any) -> list[tuple[str, str]]:
    """(method, URL) of every admin page of the widget's record type."""
    calls = []
    with app.test_request_context():
        adapter = app.url_map.bind("localhost")
        for rule in app.url_map.iter_rules():
            if rule.endpoint.partition(".")[0] != "acme_widget":
                continue
            args = {a: widget.id for a in rule.arguments if a == "record_id"}
            args |= {a: 1 if a.endswith("_id") else "x" for a in rule.arguments if a not in args}
            url = adapter.build(rule.endpoint, args)
            url += f"?id={widget.id}" if "?" not in url else ""
            calls += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return calls


def answer(client, method: str, url: str, headers: dict[str, str] | None = None,
           token: str = "") -> int:
    if method == "GET":
        return client.get(url, headers=headers).status_code
    data = {"csrf_token": token} if token else None
    return client.open(url, method=method, headers=headers,
                       json=None if data else {}, data=data).status_code


@pytest.mark.backends("sqlite", "postgresql")
def test_every_route_answers_404_for_a_disabled_plugins_records(app, client, world, login,
                                                                 cqms_backend):
    widget, attachment = world["widget"], world["attachment"]
    number = widget.number
    headers = bearer(client)
    api = record_api_calls(app, widget, attachment)
    record = f"{API}/records/acme_widget/{widget.id}"
    assert {("GET", f"{API}/records/acme_widget"), ("POST", f"{API}/records/acme_widget"),
            ("GET", record), ("PATCH", record), ("POST", f"{record}/transitions/nonesuch"),
            ("GET", f"{API}/records/by-number/{number}"), ("GET", f"{record}/audit"),
            ("GET", f"{record}/signatures"), ("GET", f"{record}/links"),
            ("POST", f"{record}/links"), ("GET", f"{record}/attachments"),
            ("POST", f"{record}/attachments"), ("GET", f"{record}/export"),
            ("GET", f"{record}/attachments/{attachment.id}/content")} <= set(api)

    set_enabled(app, "acme", False)
    refused = {(m, u): answer(client, m, u, headers) for m, u in api}
    assert {call: status for call, status in refused.items() if status != 404} == {}

    web = app.test_client()
    login(web, "quinn")
    token = csrf_token(web, "/admin/")
    pages = admin_calls(app, widget)
    assert ("GET", f"/admin/acme_widget/details/?id={widget.id}") in pages
    refused = {(m, u): answer(web, m, u, token=token) for m, u in pages}
    assert {call: status for call, status in refused.items() if status != 404} == {}
    assert web.get(f"/files/{attachment.id}").status_code == 404  # quinn holds core.audit.view

    set_enabled(app, "acme", True)  # the same walk finds every route again
    found = {(m, u): answer(client, m, u, headers) for m, u in api}
    assert [call for call, status in found.items() if status == 404] == []
    assert client.get(f"{API}/records/by-number/{number}", headers=headers).status_code == 200
    assert web.get(f"/admin/acme_widget/details/?id={widget.id}").status_code == 200
    assert web.get(f"/files/{attachment.id}").status_code == 200


@pytest.mark.backends("sqlite", "postgresql")
def test_a_disabled_plugins_records_are_left_out_of_links_tasks_and_the_audit_trail(
        app, client, world, login, cqms_backend):
    widget, number = world["widget"], world["widget"].number
    headers = bearer(client)
    web = app.test_client()
    login(web, "quinn")

    def shown() -> dict[str, Any]:
        links = {}
        for key in ("pointing", "pointed"):
            item = world[key]
            listed = client.get(f"{API}/records/beta_item/{item.id}/links", headers=headers)
            page = web.get(f"/admin/beta_item/details/?id={item.id}").get_data(as_text=True)
            links[key] = ([link["record"]["number"] for link in listed.get_json()],
                          number in page)
        tasks = [task["title"] for task in
                 client.get(f"{API}/tasks", headers=headers).get_json()["items"]]
        audit = client.get(f"{API}/audit", headers=headers, query_string={"limit": 200})
        about_widget = [entry for entry in audit.get_json()["items"]
                        if (entry["entity_type"], entry["entity_id"]) in (
                            ("core_record", str(widget.id)), ("acme_widget", str(widget.id)),
                            ("core_attachment", str(world["attachment"].id)))]
        return {"links": links, "tasks": tasks, "my tasks page": "Check the pump" in web.get(
            "/admin/core_tasks/").get_data(as_text=True), "audit": bool(about_widget),
            "audit filter": client.get(f"{API}/audit", headers=headers,
                                       query_string={"record": number}).status_code,
            "types": [t["key"] for t in client.get(f"{API}/record-types",
                                                   headers=headers).get_json()]}

    enabled = shown()
    assert enabled["links"] == {"pointing": ([number], True), "pointed": ([number], True)}
    assert enabled["tasks"] == ["Check the pump"] and enabled["my tasks page"]
    assert enabled["audit"] and enabled["audit filter"] == 200
    assert "acme_widget" in enabled["types"]

    set_enabled(app, "acme", False)
    disabled = shown()
    assert disabled["links"] == {"pointing": ([], False), "pointed": ([], False)}
    assert disabled["tasks"] == [] and not disabled["my tasks page"]
    assert not disabled["audit"] and disabled["audit filter"] == 400
    # The plugins' types: acme's is gone, beta's stays (the core's own types are always there).
    assert [t for t in disabled["types"] if not t.startswith("core_")] == ["beta_item"]
    assert not may_read(db.session.get(Record, widget.id), world["quinn"])

    set_enabled(app, "acme", True)
    assert shown() == enabled


def test_core_services_refuse_a_disabled_plugins_record_type(app, world):
    from core import ValidationError, update_record

    set_enabled(app, "acme", False)
    widget = db.session.get(Record, world["widget"].id)
    with pytest.raises(ValidationError, match=re.escape("Unknown record type 'acme_widget'")):
        create_record("acme_widget", world["quinn"], title="Valve", description="Red")
    with pytest.raises(ValidationError, match="Unknown record type"):
        update_record(widget, world["quinn"], expected_version=widget.version, title="Other")
    db.session.rollback()
