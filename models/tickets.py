"""Domain operations on tickets: the one way each change happens, with its event and outbox rows."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import secrets

from . import attachments, outbox, statements
from .base import db, utcnow
from .tables import Attachment, Counter, Customer, Event, Mailbox, Message, Outbox, Ticket

REOPENING = ("pending", "resolved", "closed")


_mailboxes: dict[tuple, Mailbox] = {}


def sync_mailbox(configured) -> Mailbox:
    """The Mailbox row for a configured mailbox, created or updated to match the config; kept
    per process and database, since every new ticket needs it and it changes with the config."""
    key = (getattr(db.obj, "database", None), configured)
    if key in _mailboxes:
        return _mailboxes[key]
    mailbox, written = _sync_mailbox(configured)
    if not written:  # a row this transaction wrote may yet be rolled back: not cached until seen again
        _mailboxes[key] = mailbox
    return mailbox


def _sync_mailbox(configured) -> tuple[Mailbox, bool]:
    """The row, and whether this call wrote it."""
    mailbox, created = Mailbox.get_or_create(address=configured.address.lower(), defaults={
        "name": configured.name, "queue": configured.queue, "language": configured.language,
        "signature": configured.signature})
    if not created and (mailbox.name, mailbox.queue, mailbox.language, mailbox.signature) != (
            configured.name, configured.queue, configured.language, configured.signature):
        mailbox.name, mailbox.queue = configured.name, configured.queue
        mailbox.language, mailbox.signature = configured.language, configured.signature
        mailbox.save()
        return mailbox, True
    return mailbox, created


def get(**where) -> Ticket | None:
    """The ticket whose fields equal these values, with its customer and mailbox read in the same
    statement (every mail on a ticket needs both)."""
    return statements.get(Ticket, join=("customer", "mailbox"), **where)


def next_ticket_number(start: int) -> int:
    """Numbers count up from `start` in creation order; the counter row is locked by the update
    until the creating transaction commits, so concurrent creators never share a number, and a
    rolled-back creation gives its number back. The first number is an upsert, so two creators
    of the very first ticket (PostgreSQL lets them run at once) do not both insert the row."""
    p = db.param
    if db.returning_clause:
        upsert = (f"INSERT INTO counter (name, value) VALUES ({p}, {p}) "
                  "ON CONFLICT (name) DO UPDATE SET value = counter.value + 1 RETURNING value")
        return db.execute_sql(upsert, ("ticket", start)).fetchone()[0]
    if db.execute_sql(f"UPDATE counter SET value = value + 1 WHERE name = {p}", ("ticket",)).rowcount:
        return Counter.get_by_id("ticket").value
    Counter.create(name="ticket", value=start)
    return start


def open_ticket(mailbox: Mailbox, customer: Customer, subject: str, number_start: int,
                via: str = "email", follow_up_of: Ticket | None = None, at=None, category: str = "",
                last_contact_at=None, updated_at=None) -> Ticket:
    """A new ticket, with its events. `last_contact_at`: the client's own mail that opens it;
    `updated_at`: when it was written, if not `at` (a live mail's ticket opens when the mail
    arrived, and is written now)."""
    # Lower-case hex: some MTAs lower-case the local part carrying it (support+TOKEN@).
    ticket = statements.create(Ticket, number=next_ticket_number(number_start), mailbox=mailbox,
                               customer=customer, subject=subject[:1000],
                               reply_token=secrets.token_hex(10), follow_up_of=follow_up_of, category=category,
                               created_at=at or utcnow(), updated_at=updated_at or at or utcnow(),
                               last_contact_at=last_contact_at)
    events = [{"ticket": ticket, "action": "created", "detail": f"from {customer.email}", "actor": customer.email,
               "via": via}]
    if category:
        events.append({"ticket": ticket, "action": "category", "detail": f"none → {category} (a rule)",
                       "actor": "postdesk", "via": via, "new": category})
    if follow_up_of is not None:
        events += [{"ticket": ticket, "action": "follow_up", "detail": f"follow-up of closed ticket "
                    f"#{follow_up_of.number}", "actor": customer.email, "via": via},
                   {"ticket": follow_up_of, "action": "follow_up", "detail": f"continued in ticket #{ticket.number}",
                    "via": via}]
    record_all(events)
    return ticket


def add_inbound_message(ticket: Ticket, customer: Customer, mail, *, reply_text: str,
                        threaded_by: str, inbound_id: int | None, automatic: bool, at=None,
                        review_reason: str = "", outsider: bool = False, held: dict | None = None) -> Message:
    """A customer's mail on a ticket. A human follow-up reopens a waiting or solved ticket;
    an automatic one (out-of-office, RFC 3834) is recorded and changes nothing else. `held`: the
    ticket's changed fields go there (and on `ticket`), for the caller to write with its own."""
    message = statements.create(
        Message, ticket=ticket, direction="in", kind="automatic" if automatic else "customer",
        author_customer=customer, message_id=mail.message_id,
        in_reply_to=" ".join(mail.in_reply_to), references=" ".join(mail.references),
        subject=mail.subject, from_address=mail.from_address, text=mail.text,
        reply_text=reply_text, html=mail.html, inbound=inbound_id, threaded_by=threaded_by,
        review_reason=review_reason, outsider=outsider, created_at=at or utcnow())
    store_attachments(message, mail.attachments)
    if threaded_by != "new":
        record(ticket, "auto_reply" if automatic else "customer_replied",
               f"threaded by {threaded_by}", actor=customer.email, via="email", at=at)
    if not automatic and ticket.status in REOPENING:
        set_status(ticket, "open", actor=customer.email, via="email")
    changes = {} if threaded_by == "new" else {"updated_at": at or utcnow()}  # a new ticket has it already
    # The next progress update counts from the client's own message too (open_ticket wrote it
    # already for the mail that opened the ticket).
    if not automatic and not (threaded_by == "new" and ticket.last_contact_at is not None):
        changes["last_contact_at"] = at or utcnow()
    for name, value in changes.items():
        setattr(ticket, name, value)
    if held is not None:
        held.update(changes)
    elif changes:
        statements.update(Ticket, ticket.id, **changes)
    return message


def store_attachments(message: Message, parts) -> None:
    """Files kept with a message: objects with filename, content_type, data, content_id, inline."""
    for part in parts:
        statements.create(Attachment, message=message, filename=part.filename, content_type=part.content_type,
                          content_id=part.content_id, inline=part.inline, **attachments.stored(part.data))


def last_customer_message(ticket: Ticket) -> Message | None:
    """The client's latest mail on the ticket (theirs or a participant's, not an outsider's, which
    the client never saw): what our mail to them is threaded under."""
    p = db.param
    found = db.execute_sql(f"SELECT {statements.columns(Message)} FROM message WHERE ticket_id = {p} "
                           f"AND direction = 'in' AND kind = 'customer' AND NOT outsider "
                           f"ORDER BY created_at DESC, id DESC LIMIT 1", (ticket.id,)).fetchone()
    return statements.instance_of(Message, found) if found else None


def set_status(ticket: Ticket, status: str, actor: str, via: str) -> None:
    if status == ticket.status:
        return
    record(ticket, "status", f"{ticket.status} → {status}", actor=actor, via=via,
           old=ticket.status, new=status)
    changes = {"status": status, "updated_at": utcnow()}
    if status == "resolved":
        changes["resolved_at"] = changes["updated_at"]
    elif status == "closed":
        changes["closed_at"] = changes["updated_at"]
    for name, value in changes.items():
        setattr(ticket, name, value)
    # Only what changed here: a whole-row save would undo what another update just wrote
    # (a reply's first_responded_at, the SLA fields) from this object's older copy.
    statements.update(Ticket, ticket.id, **changes)


def record(ticket: Ticket, action: str, detail: str = "", actor: str = "system",
           via: str = "system", old=None, new=None, at=None) -> None:
    """Append to the ticket's audit log (an insert only: the log is never read back here).
    `old` and `new` are the values changed, as data (stored as JSON); `detail` is for people;
    `at`: when it happened, if not now (a client's mail: when it arrived)."""
    record_all([{"ticket": ticket, "action": action, "detail": detail, "actor": actor, "via": via, "old": old,
                 "new": new, "at": at}])


def record_many(ticket: Ticket, events: list[dict]) -> None:
    """Several events of one ticket and moment in one insert: dicts of `record`'s arguments."""
    record_all([{**e, "ticket": ticket} for e in events])


def record_all(events: list[dict]) -> None:
    """Events of any tickets in one insert: dicts of `record`'s arguments and "ticket"."""
    if events:
        now = utcnow()
        rows = [{"ticket": e["ticket"], "action": e["action"], "detail": e.get("detail", ""),
                 "actor": e.get("actor", "system"), "via": e.get("via", "system"),
                 "old": _json(e.get("old")), "new": _json(e.get("new")), "created_at": e.get("at") or now}
                for e in events]
        held = _held_events.get()
        if held is not None:
            held.extend(rows)  # written by the block
        else:
            statements.insert_many(Event, rows)


_held_events: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar("held_events", default=None)


@contextlib.contextmanager
def events_held():
    """The events recorded in the block are written together when it ends (call it inside the
    transaction): one INSERT for all a mail changes, where each step would write its own.
    Meanwhile `held_events` shows them to the one reader of events on the way, the SLA history.
    A block that raises writes nothing (its transaction is rolled back anyway)."""
    held: list[dict] = []
    token = _held_events.set(held)
    try:
        yield
    finally:
        _held_events.reset(token)
    statements.insert_many(Event, held)


def held_events() -> list[dict]:
    """The rows recorded in the current `events_held` block and not yet written."""
    return _held_events.get() or []


def _json(value):
    return None if value is None else json.dumps(value, ensure_ascii=False)


def queue_client_mail(ticket: Ticket, kind: str, mail_from: str, recipients: list[str], raw: bytes,
                      message_id: str) -> list[Outbox]:
    """Queue mail to the client (one outbox row per recipient, each shown on the ticket with its
    delivery state) and note the contact: progress updates count from it."""
    rows = outbox.queue(ticket=ticket, kind=kind, mail_from=mail_from, recipients=recipients, raw=raw,
                        message_id=message_id)
    ticket.last_contact_at = utcnow()
    statements.update(Ticket, ticket.id, last_contact_at=ticket.last_contact_at)
    return rows


def ticket_ids_by_message_id(message_ids: list[str]) -> dict[str, int]:
    """The tickets of the mail we stored or sent with these Message-IDs, in one round trip for
    both tables (its SQL built once per number of ids: threading asks for every reply)."""
    if not message_ids:
        return {}
    return dict(db.execute_sql(_by_message_id_sql(len(message_ids), db.param), [*message_ids, *message_ids]))


@functools.lru_cache(maxsize=256)
def _by_message_id_sql(count: int, p: str) -> str:
    ids = ", ".join([p] * count)
    return (f"SELECT message_id, ticket_id FROM outbox WHERE message_id IN ({ids}) AND ticket_id IS NOT NULL "
            f"UNION SELECT message_id, ticket_id FROM message WHERE message_id IN ({ids})")
