"""The operator's pages: mail that failed or was set aside (its raw bytes, a replay), mail held
back from customers, and the status of the running parts. Admins only."""

from __future__ import annotations

import pytest

from mailer import pipeline, spool
from models import inbound
from models.tables import Customer, InboundMail, Ticket
from tests.conftest import csrf_token, load_eml, signed_in
from web import create_app


@pytest.fixture
def app(settings, cast):
    pipeline.process(settings, spool.store(load_eml("new_question.eml"), "smtp"))
    return create_app(settings, testing=True)


def test_a_quarantined_mail_is_shown_raw_downloaded_and_replayed_into_a_ticket(app, settings):
    stored = spool.store(b"From: Bob <bob@client.example>\r\nTo: support@example.com\r\nSubject: <b>Help</b>\r\n"
                         b"Message-ID: <bob-q@client.example>\r\n\r\nMy printer <script>alert(1)</script>\r\n", "smtp")
    inbound.quarantine(InboundMail.get_by_id(stored), "Traceback: RuntimeError: the database was locked")
    client = signed_in(app)  # Agnes is an admin
    listing = client.get("/inbound").get_data(as_text=True)
    assert "&lt;bob-q@client.example&gt;" in listing and "the database was locked" in listing
    page = client.get(f"/inbound/{stored}").get_data(as_text=True)
    assert "My printer &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    raw = client.get(f"/inbound/{stored}.eml")
    assert raw.data.startswith(b"From: Bob") and "attachment" in raw.headers["Content-Disposition"]
    assert raw.headers["Content-Type"] == "application/octet-stream"
    response = client.post(f"/inbound/{stored}/replay", data={"csrf_token": csrf_token(client, f"/inbound/{stored}")})
    assert response.status_code == 303 and InboundMail.get_by_id(stored).state == "received"
    from tests.conftest import run_worker
    run_worker(settings)
    assert InboundMail.get_by_id(stored).state == "processed"
    assert Ticket.select().where(Ticket.subject == "<b>Help</b>").exists()


def test_processed_mail_cannot_be_replayed_and_agents_may_not_see_operations(app):
    client = signed_in(app)
    done = InboundMail.get()
    client.post(f"/inbound/{done.id}/replay", data={"csrf_token": csrf_token(client, f"/inbound/{done.id}")})
    assert "only quarantined or rejected mail is replayed" in client.get(f"/inbound/{done.id}").get_data(as_text=True)
    bob = signed_in(app, "bob@example.com")  # an agent, not an admin
    for path in ("/inbound", f"/inbound/{done.id}", f"/inbound/{done.id}.eml", "/status"):
        assert bob.get(path).status_code == 403
    assert bob.post(f"/inbound/{done.id}/replay", data={"csrf_token": csrf_token(bob, "/")}).status_code == 403
    assert app.test_client().get("/status").status_code == 302  # anonymous: the login page


def test_the_status_page_shows_the_queues_and_held_back_customers(app, settings):
    Customer.update(bounce_state="permanent").execute()
    client = signed_in(app)
    page = client.get("/status").get_data(as_text=True)
    assert "Stored, not processed yet" in page and "Customers permanent" in page and "No worker is running" in page
    held = client.get("/customers?held=1").get_data(as_text=True)
    assert "alice@client.example" in held
