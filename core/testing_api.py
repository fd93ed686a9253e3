"""Helpers for testing a plugin's JSON API: a caller holding one user's bearer token, and the
checks every answer gets (a success's JSON, a problem+json naming the field)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from core.testing import DEFAULT_PASSWORD

API = "/api/v1"


class ApiCaller:
    """Sends every request with one user's bearer token: ``ApiCaller(client, "ann")`` signs in
    through ``POST /api/v1/auth/tokens``; ``ApiCaller(client, token=...)`` uses a token you
    have. ``caller.get("/records/capa_event")`` requests ``/api/v1/records/capa_event``.
    Like a client program that knows its user, it puts the user name into a ``signature`` it
    sends without one (every API signature takes all components, P11-22)."""

    def __init__(self, client: FlaskClient, username: str | None = None,
                 password: str = DEFAULT_PASSWORD, *, token: str | None = None) -> None:
        if token is None:
            response = client.post(f"{API}/auth/tokens",
                                   json={"username": username, "password": password})
            assert response.status_code == 201, response.get_json()
            token = response.get_json()["token"]
        self.client = client
        self.username = username
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str) -> Any:
        def call(url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
            body = kwargs.get("json")
            if (self.username and isinstance(body, dict)
                    and isinstance(body.get("signature"), dict)):
                kwargs["json"] = {**body, "signature": {"username": self.username,
                                                        **body["signature"]}}
            return getattr(self.client, method)(
                f"{API}{url}", headers={**self.headers, **(headers or {})}, **kwargs)
        return call


def ok(response: Any, status: int = 200) -> Any:
    """The JSON body of an answer with ``status`` (the body text is shown when it is not)."""
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """A problem+json answer with ``status`` and a detail, naming ``field`` when given."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status and body["detail"]
    if field:
        assert field in (body.get("errors") or {}), body
    return body
