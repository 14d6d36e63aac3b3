"""Admins manage the staff's logins in the web and read the settings; agents may do neither."""

from __future__ import annotations

import pytest

from models.tables import AccountEvent, Agent, AgentAddress, WebSession
from tests.conftest import PASSWORD, csrf_token, signed_in
from web import create_app


@pytest.fixture
def app(settings, cast):
    return create_app(settings, testing=True)


def test_an_admin_creates_a_login_sets_roles_passwords_and_addresses_and_deactivates(app):
    client = signed_in(app)
    token = csrf_token(client, "/agents")
    client.post("/agents", data={"csrf_token": token, "email": "Dora@Example.com", "name": "Dora <b>",
                                 "password": "long enough secret", "role": "agent"})
    dora = Agent.get(Agent.email == "dora@example.com")
    assert (dora.name, dora.role, dora.active) == ("Dora <b>", "agent", True)
    assert "Dora &lt;b&gt;" in client.get("/agents").get_data(as_text=True)
    refused = [({"email": "dora@example.com", "password": "long enough secret", "role": "agent"},
                "already has a login"),
               ({"email": "not an address", "password": "long enough secret", "role": "agent"}, "not an email address"),
               ({"email": "eve@example.com", "password": "short", "role": "agent"}, "at least 10 characters"),
               ({"email": "eve@example.com", "password": "long enough secret", "role": "root"}, "unknown role")]
    for form, why in refused:
        client.post("/agents", data={"csrf_token": token, **form})
        assert why in client.get("/agents").get_data(as_text=True)
    assert not Agent.select().where(Agent.email == "eve@example.com").exists()

    dora_client = signed_in(app, "dora@example.com", "long enough secret")
    client.post(f"/agents/{dora.id}/role", data={"csrf_token": token, "value": "admin"})
    client.post(f"/agents/{dora.id}/address", data={"csrf_token": token, "value": "dora@phone.example"})
    assert Agent.get_by_id(dora.id).role == "admin" and AgentAddress.get().email == "dora@phone.example"
    client.post(f"/agents/{dora.id}/password", data={"csrf_token": token, "value": "another long secret"})
    assert dora_client.get("/").status_code == 302  # the new password ended her session
    dora_client = signed_in(app, "dora@example.com", "another long secret")
    client.post(f"/agents/{dora.id}/active", data={"csrf_token": token, "value": "0"})
    assert not Agent.get_by_id(dora.id).active and dora_client.get("/").status_code == 302
    assert WebSession.select().where(WebSession.agent == dora.id).count() == 0
    # every change an event with its actor, none for the refused ones; shown to admins
    changes = [(e.actor, e.action) for e in AccountEvent.select().where(AccountEvent.agent == dora.id)
               .order_by(AccountEvent.id)]
    assert changes == [("agnes@example.com", a) for a in ("created", "role", "address", "password", "active")]
    page = client.get("/agents").get_data(as_text=True)
    assert "Recent changes to logins" in page and "agent → admin" in page and "deactivated" in page


def test_an_admin_cannot_lock_themselves_out(app):
    client = signed_in(app)
    agnes = Agent.get(Agent.email == "agnes@example.com")
    token = csrf_token(client, "/agents")
    client.post(f"/agents/{agnes.id}/role", data={"csrf_token": token, "value": "agent"})
    client.post(f"/agents/{agnes.id}/active", data={"csrf_token": token, "value": "0"})
    agnes = Agent.get_by_id(agnes.id)
    assert (agnes.role, agnes.active) == ("admin", True)
    page = client.get("/agents").get_data(as_text=True)
    assert "cannot take the admin role from yourself" in page or "cannot deactivate yourself" in page


def test_settings_are_shown_without_secrets_and_agents_may_not_manage(app, settings):
    client = signed_in(app)
    page = client.get("/settings").get_data(as_text=True)
    assert "support@example.com" in page and "vip" in page and "default" in page and "(empty)" in page
    assert settings.signing_key not in page
    bob = signed_in(app, "bob@example.com", PASSWORD)
    for path in ("/agents", "/settings"):
        assert bob.get(path).status_code == 403
    bob_token = csrf_token(bob, "/")
    assert bob.post("/agents", data={"csrf_token": bob_token, "email": "x@example.com", "password": "x" * 12,
                                     "role": "admin"}).status_code == 403
    assert not Agent.select().where(Agent.email == "x@example.com").exists()
    assert client.post("/agents", data={"email": "y@example.com", "password": "y" * 12}).status_code == 400
