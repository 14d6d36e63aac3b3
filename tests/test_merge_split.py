"""Merging two tickets and splitting a wrongly threaded message off, from the admin; the client's
later replies to a merged ticket land on the ticket it was merged into."""

from __future__ import annotations

import pytest

from mailer import pipeline, spool
from models.tables import Event, Message, Participant, Ticket
from tests.conftest import csrf_token, ingest, signed_in
from web import create_app


def mail(n: int, subject: str, sender: str, extra: str = "", text: str = "Hello.") -> bytes:
    return (f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <m{n}@client.example>\r\n"
            f"{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()


@pytest.fixture
def app(settings, cast):
    first = mail(1, "Printer broken", "alice@client.example", text="发票打印不了")
    pipeline.process(settings, spool.store(first, "smtp"))
    pipeline.process(settings, spool.store(mail(2, "Printer still broken", "bob@client.example"), "smtp"))
    return create_app(settings, testing=True)


def test_merging_moves_the_thread_and_later_replies_to_either_land_on_the_target(app, settings):
    client = signed_in(app)
    token = csrf_token(client, "/tickets/2")
    response = client.post("/tickets/2/merge", data={"csrf_token": token, "into": "#1"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/tickets/1")
    source, target = Ticket.get(Ticket.number == 2), Ticket.get(Ticket.number == 1)
    assert (source.status, source.merged_into_id) == ("closed", target.id)
    assert Message.select().where(Message.ticket == target).count() == 2
    assert Participant.select().where(Participant.ticket == target).count() == 1  # Bob joins
    assert Event.select().where(Event.action == "merged").count() == 2
    # Bob answers his old ticket three ways: its tag, its acknowledgement's Message-ID, its address
    ingest(settings, mail(3, "Re: [#2] Printer still broken", "bob@client.example"))
    ack = Message.get(Message.message_id == "<m2@client.example>")
    ingest(settings, mail(4, "Re: printer", "bob@client.example", f"In-Reply-To: {ack.message_id}\r\n"))
    ingest(settings, mail(5, "printer", "bob@client.example"), rcpt=(f"support+{source.reply_token}@example.com",))
    for n in (3, 4, 5):
        assert Message.get(Message.message_id == f"<m{n}@client.example>").ticket_id == target.id, n
    assert Ticket.select().count() == 2
    assert numbers_found(client, "发票") == [1]  # the search follows the messages
    for number, into, why in ((2, "1", "already merged"), (1, "1", "into itself"), (1, "99", "no such ticket")):
        client.post(f"/tickets/{number}/merge", data={"csrf_token": token, "into": into})
        assert why in client.get("/tickets/1").get_data(as_text=True)


def test_splitting_makes_a_misthreaded_message_a_ticket_of_its_own(app, settings):
    ingest(settings, mail(6, "Re: [#1] Printer broken", "alice@client.example", text="Also: my VPN is down."))
    stray = Message.get(Message.message_id == "<m6@client.example>")
    client = signed_in(app)
    token = csrf_token(client, "/tickets/1")
    response = client.post(f"/tickets/1/messages/{stray.id}/split", data={"csrf_token": token})
    new = Ticket.get(Ticket.number == 3)
    assert response.headers["Location"].endswith("/tickets/3") and new.customer.email == "alice@client.example"
    assert Message.get_by_id(stray.id).ticket_id == new.id and Message.get_by_id(stray.id).threaded_by == "split"
    assert numbers_found(client, "VPN") == [3]
    first = Message.get(Message.message_id == "<m2@client.example>")
    client.post(f"/tickets/2/messages/{first.id}/split", data={"csrf_token": token})
    assert "only message" in client.get("/tickets/2").get_data(as_text=True)
    assert client.post(f"/tickets/1/messages/{first.id}/split", data={}).status_code == 400  # no CSRF token


def numbers_found(client, query: str) -> list[int]:
    import re

    return sorted(int(n) for n in re.findall(r'name="ticket" value="(\d+)"', client.get(
        "/", query_string={"q": query}).get_data(as_text=True)))
