"""models/statements: rows written and read with SQL built once are the rows peewee writes and reads."""

import datetime as dt

from models import statements, tickets
from models.tables import Customer, Event, Mailbox, Participant, Ticket


def test_a_row_written_and_read_here_is_the_row_peewee_writes_and_reads(settings):
    mailbox = Mailbox.create(address="support@example.com")
    customer = statements.create(Customer, email="alice@client.example", name="Alice")
    assert customer.id and customer.tier == "standard" and customer.created_at  # defaults filled in
    at = dt.datetime(2026, 11, 2, 8, 0, 0, 123456)
    ticket = statements.create(Ticket, number=7, mailbox=mailbox, customer=customer, subject="VPN",
                               reply_token="0123456789abcdef0123", created_at=at, updated_at=at,
                               first_response_due=dt.datetime(2026, 11, 2, 17, 0))
    statements.update(Ticket, ticket.id, status="open", sla_next_check=at)

    ours, theirs = tickets.get(number=7), Ticket.get_by_id(ticket.id)
    assert ours.__data__ == theirs.__data__  # every value, of the same type
    assert (ours.customer.name, ours.mailbox.address) == ("Alice", "support@example.com")  # read in the same query
    assert statements.get(Customer, email="alice@client.example").__data__ == Customer.get_by_id(customer.id).__data__
    assert statements.get(Customer, email="nobody@client.example") is None


def test_an_insert_that_breaks_a_unique_index_is_ignored(settings):
    mailbox = Mailbox.create(address="support@example.com")
    customer = statements.create(Customer, email="alice@client.example")
    ticket = statements.create(Ticket, number=1, mailbox=mailbox, customer=customer, reply_token="a" * 20)
    assert statements.create_or_ignore(Customer, email="alice@client.example") is None
    assert statements.create_or_ignore(Participant, ticket=ticket.id, customer=customer.id) is not None
    assert statements.create_or_ignore(Participant, ticket=ticket.id, customer=customer.id) is None
    statements.insert_many(Event, [{"ticket": ticket, "action": "created", "created_at": dt.datetime(2026, 1, 1)},
                                   {"ticket": ticket, "action": "status", "created_at": dt.datetime(2026, 1, 2)}])
    assert [(e.action, e.actor, e.via) for e in Event.select().order_by(Event.id)] == [
        ("created", "system", "system"), ("status", "system", "system")]
