"""The core's per-type read narrowing (``RecordType.read_filter``) and record-page badge
(``RecordType.badge``): every read path honours them, for any plugin's record type."""

from __future__ import annotations

import pytest
from kernel_plugin import WORKFLOW, AcmeWidget
from sqlalchemy import select

from core import Permission, RecordType, RoleTemplate, create_record, db, has_permission
from core.testing import DEFAULT_PASSWORD, csrf_token

API = "/api/v1"


def hide_retired(user):  # type: ignore[no-untyped-def]
    """A condition on the type's own table (joined to core_record)."""
    return None if has_permission(user, "acme.approve") else AcmeWidget.notes != "retired"


@pytest.fixture
def app_config(temp_plugin):
    plugin = temp_plugin(
        "acme",
        register_models=lambda: [AcmeWidget],
        register_permissions=lambda: [Permission("acme.edit", "Edit widgets"),
                                      Permission("acme.approve", "Approve widgets")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",)),
                                RoleTemplate("approver", None, ("acme.edit", "acme.approve"))],
        register_workflows=lambda: [WORKFLOW],
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), view_permission="acme.edit",
            manage_permission="acme.edit", read_filter=hide_retired,
            badge=lambda r: "RETIRED" if r.notes == "retired" else None)])
    return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}


@pytest.mark.req("ISO-04", "SEC-02")
def test_read_filter_narrows_every_read_path(app, client, make_user, login, system_actor):
    alice = make_user("alice", "author")
    make_user("bob", "approver")
    kept = create_record("acme_widget", alice, title="Kept pump", description="x")
    retired = create_record("acme_widget", alice, title="Retired pump", description="x",
                            notes="retired")
    db.session.commit()
    kept_id, retired_id, retired_number = kept.id, retired.id, retired.number
    assert db.session.scalar(select(AcmeWidget.notes).where(AcmeWidget.id == retired_id)) \
        == "retired"

    for username, sees_retired in (("alice", False), ("bob", True)):
        headers = {"Authorization": "Bearer " + client.post(f"{API}/auth/tokens", json={
            "username": username, "password": DEFAULT_PASSWORD}).get_json()["token"]}
        items = client.get(f"{API}/records/acme_widget", headers=headers).get_json()["items"]
        assert {i["id"] for i in items} == ({kept_id, retired_id} if sees_retired else {kept_id})
        one = client.get(f"{API}/records/acme_widget/{retired_id}", headers=headers)
        assert one.status_code == (200 if sees_retired else 404)
        by_number = client.get(f"{API}/records/by-number/{retired_number}", headers=headers)
        assert by_number.status_code == (200 if sees_retired else 404)

        login(client, username)
        listing = client.get("/admin/acme_widget/").get_data(as_text=True)
        assert ("Retired pump" in listing) is sees_retired and "Kept pump" in listing
        page = client.get(f"/admin/acme_widget/details/?id={retired_id}")
        assert page.status_code == (200 if sees_retired else 404)
        if sees_retired:
            assert 'id="record-badge">RETIRED</span>' in page.get_data(as_text=True)
        kept_page = client.get(f"/admin/acme_widget/details/?id={kept_id}").get_data(as_text=True)
        assert 'id="record-badge"' not in kept_page
        client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/acme_widget/")})
