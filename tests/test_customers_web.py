"""The customer record in the admin: who they are, how they are served, what staff set, and
who may see it."""

from __future__ import annotations

import pytest

from mailer import pipeline, spool
from models.base import utcnow
from models.tables import Customer, Event, Survey, Ticket
from tests.conftest import csrf_token, load_eml, signed_in
from web import create_app


@pytest.fixture
def app(settings, cast):
    for name in ("new_question.eml", "chinese_gbk_question.eml"):
        pipeline.process(settings, spool.store(load_eml(name), "smtp"))
    return create_app(settings, testing=True)


def test_the_record_shows_tickets_rating_and_held_back_mail_and_staff_set_tier_language_organisation(app):
    alice = Customer.get(Customer.email == "alice@client.example")
    Customer.update(bounce_state="complained", bounce_detail="2026-12-02 10:00 UTC: <abuse report>",
                    name='Alice <script>x</script>').where(Customer.id == alice.id).execute()
    ticket = Ticket.get(Ticket.customer == alice)
    Survey.create(ticket=ticket, resolved_at=utcnow(), customer=alice, mailbox=ticket.mailbox, state="sent",
                  sent_at=utcnow(), scheduled_for=utcnow(), rating=4)
    client = signed_in(app)
    page = client.get(f"/customers/{alice.id}").get_data(as_text=True)
    assert "Alice &lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "reported our mail as spam" in page and "&lt;abuse report&gt;" in page
    assert "4.0 of 5 (1 answers)" in page and f"#{ticket.number}" in page
    token = csrf_token(client, f"/customers/{alice.id}")
    for field, value in (("tier", "vip"), ("language", "zh"), ("organisation", "Client  Ltd"), ("restore", "")):
        response = client.post(f"/customers/{alice.id}/{field}", data={"csrf_token": token, "value": value})
        assert response.status_code == 303
    alice = Customer.get_by_id(alice.id)
    assert (alice.tier, alice.language, alice.organisation, alice.bounce_state) == ("vip", "zh", "Client Ltd", "")
    actions = [e.action for e in Event.select().where(Event.ticket == ticket).order_by(Event.id)]
    assert {"tier", "customer_language", "customer_organisation", "customer_mail_restored"} <= set(actions)
    assert Event.get(Event.action == "customer_language").actor == "agnes@example.com"
    client.post(f"/customers/{alice.id}/tier", data={"csrf_token": token, "value": "gold"})
    assert "unknown tier" in client.get(f"/customers/{alice.id}").get_data(as_text=True)
    assert client.post(f"/customers/{alice.id}/tier", data={"value": "basic"}).status_code == 400  # no CSRF token
    assert Customer.get_by_id(alice.id).tier == "vip"


def test_customers_are_searched_and_grouped_by_organisation(app):
    Customer.update(organisation="Client Ltd").where(Customer.email == "alice@client.example").execute()
    client = signed_in(app)
    page = client.get("/customers?q=ALICE").get_data(as_text=True)
    assert "alice@client.example" in page and "@example.cn" not in page
    assert "Client Ltd" in client.get("/organisations").get_data(as_text=True)
    page = client.get("/customers?organisation=Client Ltd").get_data(as_text=True)
    assert "alice@client.example" in page and Customer.select().count() == 2


def test_customer_pages_need_a_login(app):
    alice = Customer.get(Customer.email == "alice@client.example")
    for path in ("/customers", "/organisations", f"/customers/{alice.id}"):
        assert app.test_client().get(path).status_code == 302
