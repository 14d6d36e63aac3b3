"""Staff actions: each change is one transaction with an Event holding old and new values; a
change to nothing records nothing; what the check refuses is never applied."""

import json

import pytest

from actions import tickets as act
from actions.result import Refused
from models.tables import Event, Message, Outbox, Participant, Ticket
from tests.conftest import ingest


@pytest.fixture
def cast(cast, settings):
    """The staff, and ticket #1: a customer's question."""
    ingest(settings, "new_question.eml")
    return cast


def changes(action: str) -> list:
    return [(json.loads(e.old) if e.old else None, json.loads(e.new) if e.new else None, e.actor, e.via)
            for e in Event.select().where(Event.action == action).order_by(Event.id)]


def test_status_change_is_an_event_with_old_and_new_values(cast, settings):
    ticket = Ticket.get()
    assert act.set_status(ticket, "pending", settings=settings, actor=cast["bob"], via="web").outcome == "status"
    assert act.set_status(ticket, "pending", settings=settings, actor=cast["bob"], via="web").outcome == "unchanged"
    assert Ticket.get().status == "pending"
    assert changes("status") == [("new", "pending", "bob@example.com", "web")]


@pytest.mark.parametrize(("status", "reason"), [("done", "unknown status"), ("new", "cannot become new")])
def test_a_refused_status_changes_nothing_and_says_why(cast, settings, status, reason):
    ticket = Ticket.get()
    act.set_status(ticket, "open", settings=settings, actor=cast["bob"], via="web")
    assert reason in act.check_status(ticket, status)
    with pytest.raises(Refused, match=reason):
        act.set_status(ticket, status, settings=settings, actor=cast["bob"], via="email")
    assert Ticket.get().status == "open" and len(changes("status")) == 1


def test_assign_and_unassign(cast):
    ticket = Ticket.get()
    act.assign(ticket, cast["charlie"], actor=cast["agnes"], via="web")
    act.assign(Ticket.get(), None, actor=cast["charlie"], via="email")
    assert Ticket.get().assignee is None
    assert changes("assignee") == [(None, "charlie@example.com", "agnes@example.com", "web"),
                                   ("charlie@example.com", None, "charlie@example.com", "email")]
    cast["bob"].active = False
    cast["bob"].save()
    with pytest.raises(Refused, match="not an active agent"):
        act.assign(ticket, cast["bob"], actor=cast["agnes"], via="web")


def test_priority(cast, settings):
    act.set_priority(Ticket.get(), "urgent", settings=settings, actor=cast["bob"], via="web")
    assert Ticket.get().priority == "urgent" and changes("priority") == [("normal", "urgent", "bob@example.com", "web")]
    with pytest.raises(Refused, match="unknown priority"):
        act.set_priority(Ticket.get(), "asap", settings=settings, actor=cast["bob"], via="web")


def test_category_from_the_configured_list_or_none(cast, settings):
    act.set_category(Ticket.get(), "complaint", settings=settings, actor=cast["bob"], via="web")
    act.set_category(Ticket.get(), "", settings=settings, actor=cast["bob"], via="email")
    assert Ticket.get().category == ""
    assert changes("category") == [(None, "complaint", "bob@example.com", "web"),
                                   ("complaint", None, "bob@example.com", "email")]
    with pytest.raises(Refused, match="unknown category 'gripe': use one of question, problem, complaint"):
        act.set_category(Ticket.get(), "gripe", settings=settings, actor=cast["bob"], via="web")


def test_a_tier_change_is_an_event_on_each_of_the_customers_tickets_not_closed(cast, settings):
    from actions import customers as customer_actions
    from models.tables import Customer

    first = Ticket.get()
    ingest(settings, b"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\n"
                     b"Subject: Another question\r\nMessage-ID: <alice-other@client.example>\r\n\r\nHello\r\n")
    closed = Ticket.get(Ticket.id != first.id)
    act.set_status(closed, "closed", settings=settings, actor=cast["bob"], via="web")
    alice = Customer.get(Customer.email == "alice@client.example")
    assert alice.tier == "standard"  # customers.default_tier
    customer_actions.set_tier(alice, "vip", settings=settings, actor=cast["bob"], via="email", ticket=first)
    assert Customer.get_by_id(alice.id).tier == "vip"
    assert [(e.ticket_id, json.loads(e.old), json.loads(e.new)) for e in Event.select().where(Event.action == "tier")] \
        == [(first.id, "standard", "vip")]
    with pytest.raises(Refused, match="unknown tier 'gold'"):
        customer_actions.set_tier(alice, "gold", settings=settings, actor=cast["bob"], via="web")


def test_collaborators(cast, settings):
    ticket = Ticket.get()
    act.add_collaborator(ticket, "Carol@Client.Example", settings=settings, actor=cast["bob"], via="web")
    assert act.add_collaborator(ticket, "carol@client.example", settings=settings, actor=cast["bob"],
                                via="web").outcome == "unchanged"
    assert [p.customer.email for p in Participant.select()] == ["carol@client.example"]
    for address, reason in (("support@example.com", "our own mailboxes"),
                            ("alice@client.example", "customer"), ("not an address", "not an email")):
        assert reason in act.check_collaborator(ticket, address, settings)
    # What an agent types is one address, or refused: never two (a reply's Cc would name both
    # while its envelope went to one), a header, an angle address or an invisible character.
    for typed in ("carol@client.example,eve@attacker.example", "dave@client.example\tBcc:eve@attacker.example",
                  "<eve@attacker.example>", "a@b@client.example", "frank@client.example\u2028bcc:eve@attacker.example",
                  "ca\u200brol@client.example", "erin@client.example>\r\nRCPT TO:<eve@attacker.example"):
        assert "not an email" in act.check_collaborator(ticket, typed, settings), typed
    assert act.check_collaborator(ticket, " dave@client.example ", settings) == ""  # pasted with spaces: fine
    act.remove_collaborator(ticket, "carol@client.example", actor=cast["bob"], via="email")
    assert Participant.select().count() == 0
    assert [c[:2] for c in changes("collaborator_added") + changes("collaborator_removed")] == [
        (None, "carol@client.example"), ("carol@client.example", None)]


def test_a_reply_on_a_long_ticket_answers_the_clients_latest_mail_found_by_index(cast, settings):
    """A ticket with hundreds of staff messages after the client's last mail: the reply is
    threaded under that mail, found by an index range of the ticket's thread, not by sorting all
    its messages (migration 16)."""
    import email

    from models.base import db

    ticket = Ticket.get()
    for i in range(150):
        act.note(ticket, cast["bob"], f"Note {i}.", via="web")
    second = b"""From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\nSubject: Re: [#1] x\r
Message-ID: <second@client.example>\r\nIn-Reply-To: <new-question-1@client.example>\r\n\r\nStill broken.\r\n"""
    assert ingest(settings, second).outcome == "added"
    for i in range(150):
        act.note(ticket, cast["bob"], f"Later note {i}.", via="web")
    act.reply(settings, Ticket.get(), cast["bob"], "Try again now, please.", via="web")
    sent = email.message_from_bytes(bytes(Outbox.select().order_by(Outbox.id.desc()).first().raw))
    assert sent["In-Reply-To"] == "<second@client.example>"
    if db.param == "?":  # SQLite says how it reads it
        plan = " ".join(str(row) for row in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM message WHERE ticket_id = ? AND direction = 'in' "
            "AND kind = 'customer' ORDER BY created_at DESC, id DESC LIMIT 1", (ticket.id,)))
        assert "message_ticket_id_created_at" in plan and "TEMP B-TREE" not in plan


def test_a_note_is_kept_for_staff_and_sent_to_nobody(cast):
    before = Outbox.select().count()
    act.note(Ticket.get(), cast["bob"], "Customer called, waiting for logs.", via="web")
    note = Message.get(Message.kind == "note")
    assert note.author_agent.email == "bob@example.com" and "waiting for logs" in note.text
    assert Outbox.select().count() == before
    with pytest.raises(Refused):
        act.note(Ticket.get(), cast["bob"], "   ", via="web")
