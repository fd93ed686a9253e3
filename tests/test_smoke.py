def test_login_page_and_dashboard(client, make_user, login):
    make_user("alice", "system_admin")
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    response = login(client, "alice")
    assert response.status_code == 302
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Dashboard" in page.get_data(as_text=True)
