"""Staff actions on a ticket: status, assignee, priority, collaborators, internal notes.

Each verb has a `check_…` twin that says, in words a person reads, why the change cannot be
made ("" when it can); the web form and the mail `#command` both ask it first, so they refuse the
same things the same way. A verb that changes nothing returns early and records nothing; one that
changes something writes the row and an Event with the old and new values in one transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets

from mailer import compose
from mailer.addresses import is_plain_address, without_tag
from mailer.notify import message_id_domain, reply_address
from mailer.reasons import Reason
from models import attachments as attachment_store
from models import customers, outbox, search, tickets
from models.base import db, utcnow
from models.tables import PRIORITIES, TICKET_STATUSES, Agent, Attachment, Customer, Message, Participant, Ticket

from . import notices, sla, surveys
from .result import Done, refuse

STATUSES = TICKET_STATUSES


def check_status(ticket: Ticket, status: str) -> str:
    if status not in STATUSES:
        return Reason("unknown status %(value)r: use one of %(known)s", value=status, known=", ".join(STATUSES))
    if status == "new" and ticket.status != "new":
        return Reason("a ticket that has been worked on cannot become new again")
    if ticket.merged_into_id and status not in ("closed", ticket.status):
        return Reason("this ticket was merged into #%(number)s: work on that one", number=ticket.merged_into.number)
    return ""


def set_status(ticket: Ticket, status: str, *, settings, actor: Agent, via: str) -> Done:
    """Move the ticket to `status` (pending = waiting on the customer: the SLA clocks pause)."""
    refuse(check_status(ticket, status))
    if status == ticket.status:
        return Done("unchanged", ticket)
    old = ticket.status
    with db.atomic():
        tickets.set_status(ticket, status, actor=actor.email, via=via)
        sla.recompute(settings, ticket, via=via)
        told = notices.status_update(settings, ticket, old, status)
        if status == "resolved":
            surveys.schedule(settings, ticket, agent=actor if isinstance(actor, Agent) else None)
        elif status in ("new", "open", "pending"):
            surveys.cancel(ticket, f"reopened by {actor.email}")
    return Done("status", ticket, tuple(row.id for row in told))


def check_assignee(agent: Agent | None) -> str:
    if agent is not None and not agent.active:
        return Reason("%(address)s is not an active agent", address=agent.email)
    return ""


def assign(ticket: Ticket, agent: Agent | None, *, actor: Agent, via: str) -> Done:
    """Give the ticket to `agent` (None: unassigned)."""
    refuse(check_assignee(agent))
    if ticket.assignee_id == (agent.id if agent else None):
        return Done("unchanged", ticket)
    old = ticket.assignee.email if ticket.assignee_id else None
    with db.atomic():
        new = agent.email if agent else None
        tickets.record(ticket, "assignee", f"{old or 'nobody'} → {new or 'nobody'}", actor=actor.email,
                       via=via, old=old, new=new)
        Ticket.update(assignee=agent, updated_at=utcnow()).where(Ticket.id == ticket.id).execute()
        ticket.assignee = agent
    return Done("assignee", ticket)


def check_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        return Reason("unknown priority %(value)r: use one of %(known)s", value=priority, known=", ".join(PRIORITIES))
    return ""


def set_priority(ticket: Ticket, priority: str, *, settings, actor: Agent, via: str) -> Done:
    """Change the priority; the SLA clocks are recomputed under the policy it leads to."""
    refuse(check_priority(priority))
    if priority == ticket.priority:
        return Done("unchanged", ticket)
    with db.atomic():
        tickets.record(ticket, "priority", f"{ticket.priority} → {priority}", actor=actor.email, via=via,
                       old=ticket.priority, new=priority)
        Ticket.update(priority=priority, updated_at=utcnow()).where(Ticket.id == ticket.id).execute()
        ticket.priority = priority
        sla.recompute(settings, ticket, via=via)
    return Done("priority", ticket)


def check_category(category: str, settings) -> str:
    known = settings.tickets.categories
    if category and category not in known:
        return Reason("unknown category %(value)r: use one of %(known)s", value=category, known=", ".join(known))
    return ""


def set_category(ticket: Ticket, category: str, *, settings, actor: Agent, via: str) -> Done:
    """File the ticket under `category` ("": none)."""
    refuse(check_category(category, settings))
    if category == ticket.category:
        return Done("unchanged", ticket)
    with db.atomic():
        tickets.record(ticket, "category", f"{ticket.category or 'none'} → {category or 'none'}",
                       actor=actor.email, via=via, old=ticket.category or None, new=category or None)
        Ticket.update(category=category, updated_at=utcnow()).where(Ticket.id == ticket.id).execute()
        ticket.category = category
        sla.recompute(settings, ticket, via=via)
    return Done("category", ticket)


def check_collaborator(ticket: Ticket, address: str, settings) -> str:
    if not is_plain_address(address):
        return Reason("%(address)r is not an email address", address=address.strip())
    address = address.strip().lower()
    if settings.mailbox_for(address) is not None:
        return Reason("%(address)s is one of our own mailboxes", address=address)
    if address == ticket.customer.email:
        return Reason("%(address)s is the ticket's customer", address=address)
    return ""


def add_collaborator(ticket: Ticket, address: str, *, settings, actor: Agent, via: str, name: str = "") -> Done:
    """Copy someone on the ticket: they receive its public replies, and their mail is theirs."""
    refuse(check_collaborator(ticket, address, settings))
    with db.atomic():
        added = customers.add_participants(ticket, [(name, address.strip().lower())])
        if not added:
            return Done("unchanged", ticket)
        tickets.record(ticket, "collaborator_added", address.strip().lower(), actor=actor.email, via=via,
                       new=address.strip().lower())
    return Done("collaborator", ticket)


def remove_collaborator(ticket: Ticket, address: str, *, actor: Agent, via: str) -> Done:
    address = address.strip().lower()
    with db.atomic():
        customer = Customer.get_or_none(Customer.email == address)
        removed = customer is not None and Participant.delete().where(
            (Participant.ticket == ticket) & (Participant.customer == customer)).execute()
        if not removed:
            return Done("unchanged", ticket)
        tickets.record(ticket, "collaborator_removed", address, actor=actor.email, via=via, old=address)
    return Done("collaborator", ticket)


def check_note(text: str, attachments=()) -> str:
    return "" if text.strip() or attachments else "an internal note needs some text"


def note(ticket: Ticket, agent: Agent, text: str, *, via: str, message_id: str = "", attachments=()) -> Done:
    """An internal note: on the ticket for staff, never sent to the client. `message_id`: the
    agent's mail it came from, so the same mail twice makes one note; `attachments`: its files
    (objects with filename, content_type, data, content_id, inline), kept with it."""
    refuse(check_note(text, attachments))
    with db.atomic():
        message = Message.create(ticket=ticket, direction="in", kind="note", author_agent=agent,
                                 message_id=message_id or f"<note-{secrets.token_hex(12)}@postdesk.invalid>",
                                 subject=ticket.subject,
                                 from_address=agent.email, text=text.strip(), reply_text=text.strip())
        tickets.store_attachments(message, attachments)
        tickets.record(ticket, "note", f"by {via}", actor=agent.email, via=via)
        Ticket.update(updated_at=utcnow()).where(Ticket.id == ticket.id).execute()
    return Done("note", ticket)


def check_reply(text: str, attachments=()) -> str:
    return "" if text.strip() or attachments else "a reply needs some text or an attachment"


def reply(settings, ticket: Ticket, agent: Agent, text: str, *, via: str, attachments=(),
          delivered: frozenset[str] = frozenset()) -> Done:
    """The agent's public reply, sent to the customer and the people on the ticket from the
    support address, threaded under the client's last message. The agent's own address is on
    nothing the client receives; the client's answer comes back to the ticket (Reply-To token).
    `attachments`: objects with filename, content_type and data. `delivered`: addresses (lower
    case; with and without their +tags) that already have the agent's words, because the
    agent's own mail went to them: they are not sent it twice."""
    refuse(check_reply(text, attachments))
    mailbox = ticket.mailbox
    customer = ticket.customer
    cc = customers.participant_addresses(ticket)
    last = tickets.last_customer_message(ticket)
    references = tuple((last.references.split() if last else [])[-20:])
    configured = settings.mailbox_for(mailbox.address)
    mail = compose.render("reply", notices.client_language(customer, mailbox),
                          configured.templates_folder(settings) if configured else "", html=True,
                          ticket=ticket, customer=customer, mailbox=mailbox, unsubscribe="", text=text.strip())
    subject = notices.tagged(ticket, mail.subject)
    message_id = compose.new_message_id(message_id_domain(settings))
    sender_name = f"{agent.name} ({mailbox.name})" if configured and configured.agent_names and agent.name \
        else mailbox.name
    raw = compose.build(sender_name=sender_name, sender=mailbox.address, to=customer.email, cc=tuple(cc),
                        subject=subject, text=mail.text, html=mail.html, message_id=message_id,
                        in_reply_to=last.message_id if last else "", references=references,
                        reply_to=reply_address(ticket), attachments=tuple(attachments))
    with db.atomic():
        message = Message.create(ticket=ticket, direction="out", kind="agent_reply", author_agent=agent,
                                 message_id=message_id, in_reply_to=last.message_id if last else "",
                                 references=" ".join(references), subject=subject, from_address=mailbox.address,
                                 text=text.strip(), reply_text=text.strip())
        for part in attachments:
            Attachment.create(message=message, filename=part.filename, content_type=part.content_type,
                              **attachment_store.stored(part.data))
        had = [address for address in [customer.email, *cc]
               if address.lower() in delivered or without_tag(address.lower()) in delivered]
        to = [address for address in [customer.email, *cc] if address not in had]
        rows = tickets.queue_client_mail(ticket, "agent_reply", mailbox.address, to, raw, message_id)
        summary = f"to {', '.join(to) or 'nobody'}" + (f" ({', '.join(had)} had the agent's own mail)" if had else "")
        tickets.record(ticket, "reply", summary, actor=agent.email, via=via,
                       new={"to": to, "message_id": message_id, **({"had_it": had} if had else {})})
        if ticket.status == "new":
            tickets.set_status(ticket, "open", actor=agent.email, via=via)
        now = utcnow()
        ticket.updated_at, ticket.first_responded_at = now, ticket.first_responded_at or now
        Ticket.update(updated_at=now, first_responded_at=ticket.first_responded_at).where(Ticket.id == ticket.id) \
            .execute()
        sla.recompute(settings, ticket, at=now, via=via)
    return Done("reply", ticket, tuple(row.id for row in rows))



def resend(row, *, actor: Agent, via: str) -> Done:
    """Put a dead (or failing) outgoing mail back in line, with its Message-ID, so a client
    whose mail program already has it shows it once."""
    if not outbox.resend(row.id):
        refuse(Reason("mail %(id)s is %(state)s: only dead or failed mail is re-sent", id=row.id, state=row.state))
    if row.ticket_id:
        tickets.record(row.ticket, "mail_resent", f"{row.kind} to {row.rcpt_to}", actor=actor.email, via=via,
                       new={"outbox": row.id, "message_id": row.message_id})
    return Done("resent", row.ticket if row.ticket_id else None, (row.id,))


MERGE_HOPS = 10


def surviving(ticket: Ticket) -> Ticket:
    """The ticket that mail for `ticket` goes to: itself, or the one it was merged into."""
    for _ in range(MERGE_HOPS):
        if not ticket.merged_into_id:
            break
        ticket = Ticket.get_by_id(ticket.merged_into_id)
    return ticket


def check_merge(source: Ticket, target: Ticket | None) -> str:
    if target is None:
        return Reason("there is no such ticket to merge into")
    if target.id == source.id:
        return Reason("a ticket cannot be merged into itself")
    if source.merged_into_id:
        return Reason("#%(number)s is already merged into another ticket", number=source.number)
    if surviving(target).id == source.id:
        return Reason("#%(target)s is merged into #%(source)s: merge the other way", target=target.number,
                      source=source.number)
    return ""


def merge(source: Ticket, target: Ticket | None, *, settings, actor: Agent, via: str) -> Done:
    """Move `source`'s thread onto `target` (its messages, attachments and the people on it; its
    customer joins as a participant when it is someone else), close `source` and point it at
    `target`: the client's later replies to either, by its address, headers or [#N], land on
    `target`."""
    refuse(check_merge(source, target))
    with db.atomic():
        moved = [m.id for m in Message.select(Message.id).where(Message.ticket == source)]
        Message.update(ticket=target).where(Message.ticket == source).execute()
        search.move_messages(db.obj, moved, target.id)
        people = [p.customer for p in source.participants]
        if source.customer_id != target.customer_id:
            people.append(source.customer)
        customers.add_participants(target, [(c.name, c.email) for c in people if c.id != target.customer_id])
        if source.status != "closed":
            tickets.set_status(source, "closed", actor=actor.email, via=via)
        Ticket.update(merged_into=target).where(Ticket.id == source.id).execute()
        source.merged_into = target
        surveys.cancel(source, f"merged into #{target.number}")
        tickets.record(source, "merged", f"into #{target.number} ({len(moved)} messages moved)", actor=actor.email,
                       via=via, new={"into": target.number, "messages": moved})
        tickets.record(target, "merged", f"#{source.number} merged in ({len(moved)} messages)", actor=actor.email,
                       via=via, new={"from": source.number, "messages": moved})
        sla.recompute(settings, source, via=via)
        sla.recompute(settings, target, via=via)
    return Done("merged", target)


def check_split(ticket: Ticket, message: Message | None) -> str:
    if message is None or message.ticket_id != ticket.id:
        return Reason("that message is not on this ticket")
    if message.kind not in ("customer", "automatic"):
        return Reason("only a client's message can become a ticket of its own")
    if Message.select().where(Message.ticket == ticket).count() < 2:
        return Reason("this is the ticket's only message")
    return ""


def split(ticket: Ticket, message: Message | None, *, settings, actor: Agent, via: str) -> Done:
    """A message threaded onto the wrong ticket becomes a ticket of its own, for whoever wrote it,
    with its attachments; both tickets' events say so and their clocks are recomputed."""
    refuse(check_split(ticket, message))
    with db.atomic():
        author = message.author_customer or ticket.customer
        new = tickets.open_ticket(ticket.mailbox, author, message.subject or ticket.subject,
                                  settings.tickets.number_start, via=via, at=message.created_at)
        Message.update(ticket=new, threaded_by="split").where(Message.id == message.id).execute()
        search.move_messages(db.obj, [message.id], new.id)
        tickets.record(ticket, "split", f"message from {author.email} moved to #{new.number}", actor=actor.email,
                       via=via, new={"to": new.number, "message": message.id})
        tickets.record(new, "split", f"from #{ticket.number}", actor=actor.email, via=via,
                       new={"from": ticket.number, "message": message.id})
        sla.recompute(settings, ticket, via=via)
        sla.recompute(settings, new, via=via)
    return Done("split", new)


def close_resolved(settings, now: dt.datetime, limit: int = 500) -> int:
    """Close the tickets resolved more than `tickets.close_resolved_after_days` ago that nobody
    reopened (the follow-up job, every minute), each in its own transaction. No mail goes to the
    client (Zendesk's automatic close sends none either): the "resolved" mail told them already.
    Returns how many were closed."""
    days = settings.tickets.close_resolved_after_days
    if not days:
        return 0
    before = now - dt.timedelta(days=days)
    still = (Ticket.status == "resolved") & (Ticket.resolved_at < before)
    closed = 0
    for (ticket_id,) in Ticket.select(Ticket.id).where(still).order_by(Ticket.resolved_at).limit(limit).tuples():
        with db.atomic():  # read again in the transaction: the client may have reopened it meanwhile
            query = Ticket.select().where((Ticket.id == ticket_id) & still)
            ticket = (query.for_update() if db.for_update else query).first()
            if ticket is None:
                continue
            tickets.set_status(ticket, "closed", actor="postdesk", via=f"worker (resolved more than {days} days ago)")
            sla.recompute(settings, ticket, via="worker")
            closed += 1
    return closed

