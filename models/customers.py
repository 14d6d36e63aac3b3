"""Customers: found or created by address, their Cc participation, and their bounce state."""

from __future__ import annotations

from .base import utcnow
from .tables import Customer, Participant, Ticket

BOUNCE_RANK = {"": 0, "temporary": 1, "permanent": 2}


def find(address: str) -> Customer | None:
    return Customer.get_or_none(Customer.email == address.lower())


def find_or_create(address: str, name: str = "", found: Customer | None = None, tier: str = "") -> Customer:
    """The customer with this address (`found` when the caller looked already), named if unnamed;
    a new one starts in `tier` (else the column's default)."""
    address = address.lower()
    customer = found or Customer.get_or_none(Customer.email == address)
    if customer is None:
        # INSERT … ON CONFLICT DO NOTHING: no savepoint, and a concurrent creator is no error.
        Customer.insert(email=address, name=name, **({"tier": tier} if tier else {})).on_conflict_ignore().execute()
        return Customer.get(Customer.email == address)
    if name and not customer.name:
        customer.name = name
        customer.save()
    return customer


def add_participants(ticket: Ticket, addresses: list[tuple[str, str]]) -> list[Customer]:
    """Copied colleagues become participants, so their replies and [#N] tags are trusted."""
    added = []
    for name, address in addresses:
        customer = find_or_create(address, name)
        if customer.id == ticket.customer_id:
            continue
        _, created = Participant.get_or_create(ticket=ticket, customer=customer)
        if created:
            added.append(customer)
    return added


def is_on_ticket(ticket: Ticket, address: str) -> bool:
    address = address.lower()
    if ticket.customer.email == address:
        return True
    return (Participant.select().join(Customer)
            .where((Participant.ticket == ticket) & (Customer.email == address)).exists())


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


def clear_bounce(customer: Customer) -> None:
    """Mail written by the customer proves the address works again."""
    if customer.bounce_state:
        customer.bounce_state = ""
        customer.save()


def set_language(customer: Customer, language: str) -> None:
    """The language of our mail to them, once known ("" leaves it unknown)."""
    if language and language != customer.language:
        Customer.update(language=language).where(Customer.id == customer.id).execute()
        customer.language = language
