"""Actions on customers: their tier (how much they matter to the business), and a list of
customers brought in from a file."""

from __future__ import annotations

from dataclasses import dataclass

from mailer.addresses import is_plain_address
from mailer.reasons import Reason
from models import tickets
from models.base import db
from models.tables import Agent, Customer, Ticket
from servicelevels import rules

from . import sla
from .result import Done, refuse


def check_tier(tier: str, settings) -> str:
    known = settings.customers.tiers
    if tier not in known:
        return Reason("unknown tier %(value)r: use one of %(known)s", value=tier, known=", ".join(known))
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
        concerned = (Ticket.customer == customer) & (Ticket.status != "closed")
        if ticket is not None:
            concerned |= Ticket.id == ticket.id
        for affected in Ticket.select().where(concerned).order_by(Ticket.id):
            tickets.record(affected, "tier", f"{customer.email}: {old} → {tier}", actor=actor.email, via=via,
                           old=old, new=tier)
            sla.recompute(settings, affected, via=via)  # the tier may change the policy
    return Done("tier", ticket)


def _on_open_tickets(customer: Customer, action: str, detail: str, *, actor: Agent, via: str, old, new) -> None:
    """A change to the customer is an event on each of their tickets not closed yet, where staff
    look: the ticket pages and their timelines."""
    for affected in Ticket.select().where((Ticket.customer == customer) & (Ticket.status != "closed")):
        tickets.record(affected, action, f"{customer.email}: {detail}", actor=actor.email, via=via, old=old, new=new)


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        return Reason("unknown language %(value)r: use en, zh or nothing (detect)", value=language)
    return ""


def set_language(customer: Customer, language: str, *, actor: Agent, via: str) -> Done:
    """The language of our mail to them ("": not known, so their next mail decides)."""
    refuse(check_language(language))
    return _set(customer, Customer.language, language, "customer_language", "unknown", actor=actor, via=via)


def set_organisation(customer: Customer, organisation: str, *, actor: Agent, via: str) -> Done:
    """The organisation they belong to: their colleagues' mail with them in copy joins their
    tickets (see receive_customer_mail in actions/mail.py), and the customers page groups by it."""
    organisation = " ".join(organisation.split())[:200]
    return _set(customer, Customer.organisation, organisation, "customer_organisation", "none", actor=actor, via=via)


def _set(customer: Customer, field, value: str, action: str, nothing: str, *, actor: Agent, via: str) -> Done:
    """Change one of the customer's fields, an event on each of their open tickets."""
    old = getattr(customer, field.name)
    if value == old:
        return Done("unchanged", None)
    with db.atomic():
        Customer.update({field: value}).where(Customer.id == customer.id).execute()
        setattr(customer, field.name, value)
        _on_open_tickets(customer, action, f"{old or nothing} → {value or nothing}", actor=actor, via=via,
                         old=old, new=value)
    return Done(field.name, None)


def check_restore_mail(customer: Customer) -> str:
    if not customer.bounce_state and not customer.unsubscribed_at:
        return Reason("mail to this customer is not held back")
    return ""


def restore_mail(customer: Customer, *, actor: Agent, via: str) -> Done:
    """Send to them again: after a bounce they fixed, a complaint they took back, or an
    unsubscribe they regret (only on their word: it is recorded as the agent's doing)."""
    refuse(check_restore_mail(customer))
    with db.atomic():
        old = customer.bounce_state or "unsubscribed"
        Customer.update(bounce_state="", bounce_detail="", unsubscribed_at=None).where(Customer.id == customer.id) \
            .execute()
        customer.bounce_state, customer.unsubscribed_at = "", None
        _on_open_tickets(customer, "customer_mail_restored", f"mail no longer held back (was {old})",
                         actor=actor, via=via, old=old, new="")
    return Done("restored", None)


COLUMNS = ("email", "name", "organisation", "tier", "language")
LANGUAGES = ("", "en", "zh")


@dataclass(frozen=True)
class Row:
    """One customer as a file lists them; `line` is where, for the errors."""

    line: int
    email: str
    name: str = ""
    organisation: str = ""
    tier: str = ""
    language: str = ""


def check_import(rows: list[Row], settings) -> list[str]:
    """Every problem of the file, one line each ("line 4: unknown tier 'gold' …"); [] when it
    can be imported as a whole."""
    errors, seen = [], {}
    for row in rows:
        address = row.email.strip().lower()
        if not is_plain_address(address):
            errors.append(f"line {row.line}: {row.email!r} is not an email address")
        elif address in seen:
            errors.append(f"line {row.line}: {address} is listed already on line {seen[address]}")
        else:
            seen[address] = row.line
        if row.tier and (reason := check_tier(row.tier.strip().lower(), settings)):
            errors.append(f"line {row.line}: {reason}")
        if row.language.strip().lower() not in LANGUAGES:
            errors.append(f"line {row.line}: language {row.language!r}: use en, zh or leave it empty")
    return errors


def import_customers(rows: list[Row], *, settings, actor, via: str = "cli") -> dict[str, int]:
    """Create or update every customer of `rows` in one transaction, or none (the file is checked
    first). Running it twice changes nothing the second time. An empty cell leaves the value as
    it is; a new customer without a tier gets the tier rules' or the default. A changed tier is
    `set_tier`'s: events on their tickets and clocks recomputed."""
    refuse("; ".join(check_import(rows, settings)))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with db.atomic():
        for row in rows:
            address = row.email.strip().lower()
            customer = Customer.get_or_none(Customer.email == address)
            tier = row.tier.strip().lower()
            if customer is None:
                tier = tier or rules.tier_for(settings.customers.rules, settings.customers.default_tier, address,
                                              row.organisation.strip())
                Customer.create(email=address, name=row.name.strip(), organisation=row.organisation.strip(),
                                tier=tier, language=row.language.strip().lower())
                counts["created"] += 1
                continue
            changes = {key: value for key, value in (("name", row.name.strip()),
                                                     ("organisation", row.organisation.strip()),
                                                     ("language", row.language.strip().lower()))
                       if value and value != getattr(customer, key)}
            if changes:
                Customer.update(**changes).where(Customer.id == customer.id).execute()
            retiered = tier and tier != customer.tier
            if retiered:
                set_tier(customer, tier, settings=settings, actor=actor, via=via)
            counts["updated" if changes or retiered else "unchanged"] += 1
    return counts
