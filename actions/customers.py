"""Staff actions on a customer: their tier (how much they matter to the business)."""

from __future__ import annotations

from models import tickets
from models.base import db
from models.tables import Agent, Customer, Ticket

from .result import Done, refuse


def check_tier(tier: str, settings) -> str:
    known = settings.customers.tiers
    if tier not in known:
        return f"unknown tier {tier!r}: use one of {', '.join(known)}"
    return ""


def set_tier(customer: Customer, tier: str, *, settings, actor: Agent, via: str,
             ticket: Ticket | None = None) -> Done:
    """Put the customer in `tier`. The change is an event on each of their tickets not closed
    yet (and on `ticket`, the one it was made from), since it changes how those are served."""
    refuse(check_tier(tier, settings))
    if tier == customer.tier:
        return Done("unchanged", ticket)
    old = customer.tier
    with db.atomic():
        Customer.update(tier=tier).where(Customer.id == customer.id).execute()
        customer.tier = tier
        affected = Ticket.select().where((Ticket.customer == customer) & (Ticket.status != "closed"))
        ids = {t.id for t in affected} | ({ticket.id} if ticket is not None else set())
        for ticket_id in sorted(ids):
            tickets.record(Ticket(id=ticket_id), "tier", f"{customer.email}: {old} → {tier}", actor=actor.email,
                           via=via, old=old, new=tier)
    return Done("tier", ticket)
