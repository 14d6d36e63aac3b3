"""Customers: found or created by address, their Cc participation, and their bounce state."""

from __future__ import annotations

from . import statements
from .base import db, utcnow
from .tables import Customer, Participant, Ticket

BOUNCE_RANK = {"": 0, "temporary": 1, "complained": 2, "permanent": 3}


# Mail we send of our own accord, not an agent's answer: a client who complained (an ARF report
# from their provider) gets none of it. Staff notices and SLA alerts go to agents, not here.
AUTOMATIC_KINDS = frozenset({"acknowledgement", "status_update", "progress_update", "survey"})


def suppression_reason(address: str, kind: str, customer: Customer | None = None) -> str:
    """Why a mail of this kind must not go to this address, or "" when it may: nothing after a
    permanent bounce (more mail only hurts our reputation with their provider), and nothing
    automatic after a complaint, while agents' answers still reach a client who wrote to us.
    The one rule for both queueing and sending (which checks again). `customer`: the address's
    customer when the caller holds it, read in its own transaction."""
    customer = customer or find(address)
    if customer is None:
        return ""
    if customer.bounce_state == "permanent":
        return f"{customer.email} bounced permanently"
    if customer.bounce_state == "complained" and kind in AUTOMATIC_KINDS:
        return f"{customer.email} complained about our mail (ARF); only answers go to them"
    return ""


def find(address: str) -> Customer | None:
    return statements.get(Customer, email=address.lower())


NOT_LOOKED = object()  # a caller's `found`: it did not look the customer up


def find_or_create(address: str, name: str = "", found: Customer | None = NOT_LOOKED, tier: str = "") -> Customer:
    """The customer with this address (`found`: what the caller's own lookup found, None for
    nobody), named if unnamed; a new one starts in `tier` (else the column's default)."""
    address = address.lower()
    customer = find(address) if found is NOT_LOOKED else found
    if customer is None:
        # INSERT … ON CONFLICT DO NOTHING: no savepoint, and a concurrent creator is no error.
        created = statements.create_or_ignore(Customer, email=address, name=name, **({"tier": tier} if tier else {}))
        return created or find(address)
    if name and not customer.name:
        customer.name = name
        statements.update(Customer, customer.id, name=name)
    return customer


def add_participants(ticket: Ticket, addresses: list[tuple[str, str]]) -> list[Customer]:
    """Copied colleagues become participants, so their replies and [#N] tags are trusted."""
    added = []
    for name, address in addresses:
        customer = find_or_create(address, name)
        if customer.id == ticket.customer_id:
            continue
        if statements.create_or_ignore(Participant, ticket=ticket.id, customer=customer.id) is not None:
            added.append(customer)
    return added


def participant_addresses(ticket: Ticket) -> list[str]:
    """The addresses of the people on the ticket besides its customer, in the order they joined."""
    p = db.param
    return [email for email, in db.execute_sql(
        f"SELECT customer.email FROM participant JOIN customer ON customer.id = participant.customer_id "
        f"WHERE participant.ticket_id = {p} ORDER BY participant.id", (ticket.id,))]


def is_on_ticket(ticket: Ticket, address: str) -> bool:
    address = address.lower()
    if ticket.customer.email == address:
        return True
    p = db.param
    return bool(db.execute_sql(f"SELECT EXISTS(SELECT 1 FROM participant JOIN customer ON customer.id = "
                               f"participant.customer_id WHERE participant.ticket_id = {p} AND customer.email = {p})",
                               (ticket.id, address)).fetchone()[0])


def record_bounce(address: str, permanent: bool, detail: str) -> Customer | None:
    """Mark a known customer as bouncing; a permanent failure outranks a temporary one."""
    customer = Customer.get_or_none(Customer.email == address.lower())
    if customer is None:
        return None
    state = "permanent" if permanent else "temporary"
    if BOUNCE_RANK[state] >= BOUNCE_RANK.get(customer.bounce_state, 0):
        customer.bounce_state = state
    customer.bounce_detail = f"{utcnow():%Y-%m-%d %H:%M} UTC: {detail}"[:2000]
    customer.save()
    return customer


def record_complaint(address: str, detail: str) -> Customer | None:
    """A known customer reported our mail as spam (ARF): automatic mail to them stops, and their
    writing to us again does not lift it (an agent can, on the customer's record)."""
    customer = Customer.get_or_none(Customer.email == address.lower())
    if customer is None:
        return None
    customer.bounce_state = "complained"
    customer.bounce_detail = f"{utcnow():%Y-%m-%d %H:%M} UTC: {detail}"[:2000]
    customer.save()
    return customer


def clear_bounce(customer: Customer) -> None:
    """Mail written by the customer proves the address works again (a complaint stays)."""
    if customer.bounce_state in ("temporary", "permanent"):
        customer.bounce_state = ""
        customer.save()


def set_language(customer: Customer, language: str) -> None:
    """The language of our mail to them, once known ("" leaves it unknown)."""
    if language and language != customer.language:
        statements.update(Customer, customer.id, language=language)
        customer.language = language
