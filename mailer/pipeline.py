"""The ingest pipeline: stored raw mail → ticket, message, events and outbox rows, step by step."""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass, field

from peewee import IntegrityError

from models import customers, inbound, tickets
from models.base import db, utcnow
from models.tables import InboundMail, Message, Ticket

from . import bounces, classify, identity, notify, parsing, quotes, threading
from .parsing import ParsedMail

log = logging.getLogger(__name__)


class Discard(Exception):
    """Stop quietly: the mail is recorded with this outcome and nothing else happens."""

    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome = outcome


class Reject(Exception):
    """The mail cannot be taken; recorded as rejected with a human-readable reason."""


class Defer(Exception):
    """Not yet: the mail answers one we hold but have not processed (another worker has it)."""


@dataclass
class Context:
    settings: object
    row: InboundMail
    notify: bool = True
    historic: bool = False  # imported past mail: keeps its own date
    allow_defer: bool = False  # may wait for the mail it answers (jobs, not imports)
    mail: ParsedMail | None = None
    automatic: str = ""  # why the mail is an automatic reply, or ""
    bounce: bounces.Bounce | None = None
    sender: str = ""
    agent: object = None  # an agent proven by our MTA's DKIM/DMARC verdict
    customer: object = None
    ticket: Ticket | None = None
    threaded_by: str = ""
    reply_text: str = ""
    outcome: str = ""
    outbox_ids: list[int] = field(default_factory=list)


def parse(ctx: Context) -> None:
    limit = ctx.settings.smtp.max_message_bytes
    if ctx.row.size > limit:  # the edges refuse these; imports and replays meet the same rule
        raise Reject(f"message of {ctx.row.size} bytes is over the {limit}-byte limit")
    ctx.mail = parsing.parse(bytes(ctx.row.raw))
    # Idempotency key (Discourse): a Message-ID we already hold means this mail was taken.
    if Message.select().where(Message.message_id == ctx.mail.message_id).exists():
        raise Discard("duplicate", f"already stored as {ctx.mail.message_id}")


def classify_mail(ctx: Context) -> None:
    reason = classify.loop_reason(ctx.mail, ctx.settings.mailbox_addresses)
    if reason:
        raise Discard("loop", reason)
    ctx.bounce = bounces.detect(ctx.mail)
    if ctx.bounce is None:
        ctx.automatic = classify.auto_reply_reason(ctx.mail)


def identify_sender(ctx: Context) -> None:
    if ctx.bounce is not None:
        return  # a report from a mail server, not from a person
    if "@" not in ctx.mail.from_address:
        raise Reject(f"no usable sender address in From ({ctx.mail.from_address or 'none'})")
    ctx.sender = ctx.mail.from_address
    proven = identity.is_proven(ctx.mail, ctx.settings.inbound.trusted_authserv_id)
    if not proven and ctx.sender.rpartition("@")[2] not in ctx.settings.mailbox_domains:
        return  # neither vouched for by our MTA nor claiming our domain: a customer, no lookup
    agent = identity.find_agent(ctx.sender)
    if agent is None:
        return
    if proven:
        ctx.agent = agent
    else:  # a forged or unverifiable staff address gets no more than a customer would
        log.warning("%s from agent address %s without DKIM/DMARC proof: handled as a customer",
                    ctx.mail.message_id, ctx.sender)


def find_ticket(ctx: Context) -> None:
    mail = ctx.mail
    if ctx.bounce is not None:
        ctx.ticket = threading.by_message_ids(ctx.bounce.original_message_ids)
        ctx.threaded_by = "header" if ctx.ticket else ""
        return
    recipients = ctx.row.rcpt_to.split("\n") + [a for _, a in mail.to + mail.cc] + [
        mail.header(h) for h in ("Delivered-To", "X-Original-To")]
    rules = (("token", lambda: threading.by_token(ctx.settings, [r for r in recipients if r])),
             ("header", lambda: threading.by_headers(mail)),
             ("subject_tag", lambda: threading.by_subject_tag(mail, ctx.sender, ctx.agent is not None)))
    for rule, finder in rules:
        ticket = finder()
        if ticket is not None:
            ctx.ticket, ctx.threaded_by = ticket, rule
            return
    answered = mail.in_reply_to + mail.references
    if ctx.allow_defer and answered and inbound.is_waiting(answered, other_than=ctx.row.id):
        # Two workers, a question and its reply-all: do not open a second ticket for the reply.
        raise Defer("answers a stored mail that is not processed yet")
    ctx.threaded_by = "new"


def extract_reply(ctx: Context) -> None:
    if ctx.bounce is None:
        ctx.reply_text = quotes.extract_reply(ctx.mail.reply_basis)


def apply(ctx: Context) -> None:
    """Every write of this mail in one transaction, including the row's own outcome."""
    mail = ctx.mail
    if ctx.bounce is None:
        # Reads before the write transaction: SQLite has one writer at a time.
        ctx.customer = customers.find(mail.from_address)
    try:
        with db.atomic():
            if ctx.bounce is not None:
                _record_bounce(ctx)
            elif ctx.agent is not None and ctx.ticket is not None:
                _record_agent_note(ctx)
            else:
                _record_message(ctx)
            inbound.finish(ctx.row, "processed", ctx.outcome, message_id=mail.message_id)
    except IntegrityError:
        # Another worker stored the same Message-ID between our check and our insert.
        if Message.select().where(Message.message_id == mail.message_id).exists():
            raise Discard("duplicate", f"stored concurrently as {mail.message_id}") from None
        raise


def _record_message(ctx: Context) -> None:
    mail, settings = ctx.mail, ctx.settings
    customer = customers.find_or_create(mail.from_address, mail.from_name, found=ctx.customer)
    copied = [(n, a) for n, a in mail.to + mail.cc  # mailbox_for also covers support+tag@
              if "@" in a and a != customer.email and settings.mailbox_for(a) is None]
    if ctx.ticket is not None and _needs_follow_up(ctx.ticket, settings):
        previous, ctx.ticket, ctx.threaded_by = ctx.ticket, None, "new"
    else:
        previous = None
    if ctx.ticket is None:
        mailbox = tickets.sync_mailbox(_mailbox_for(ctx))
        ctx.ticket = tickets.open_ticket(mailbox, customer, mail.subject,
                                         settings.tickets.number_start, follow_up_of=previous,
                                         at=_when(ctx))
        ctx.outcome = "new_ticket"
    else:
        ctx.outcome = "added"
    message = tickets.add_inbound_message(
        ctx.ticket, customer, mail, reply_text=ctx.reply_text, threaded_by=ctx.threaded_by,
        inbound_id=ctx.row.id, automatic=bool(ctx.automatic), at=_when(ctx))
    if ctx.automatic:
        ctx.outcome = "auto_reply"
        return
    customers.clear_bounce(customer)
    customers.add_participants(ctx.ticket, copied)
    if ctx.outcome == "new_ticket" and ctx.notify:
        ack = notify.acknowledge(settings, ctx.ticket, customer, message)
        if ack is not None:
            ctx.outbox_ids.append(ack.id)


def _when(ctx: Context):
    """Imported mail keeps the time it was written; live mail is stamped now."""
    if ctx.historic and ctx.mail.date is not None:
        return ctx.mail.date.replace(tzinfo=None)
    return utcnow()


def _record_agent_note(ctx: Context) -> None:
    """A proven agent's mail on a ticket: kept as an internal note, never sent to the client.
    (Replies to the client and #commands by mail are a later step.)"""
    ctx.outcome = "added"
    tickets.add_agent_note(ctx.ticket, ctx.agent, ctx.mail, reply_text=ctx.reply_text,
                           threaded_by=ctx.threaded_by, inbound_id=ctx.row.id)


def _needs_follow_up(ticket: Ticket, settings) -> bool:
    """A reply to a ticket closed longer ago than the reopen window opens a linked new one."""
    if ticket.status != "closed":
        return False
    window = dt.timedelta(days=settings.tickets.reopen_closed_within_days)
    return ticket.closed_at is None or utcnow() - ticket.closed_at > window


def _record_bounce(ctx: Context) -> None:
    bounce = ctx.bounce
    ctx.outcome = "bounce"
    for address, permanent in [(a, True) for a in bounce.permanent] + [(a, False) for a in bounce.temporary]:
        kind = "permanent" if permanent else "temporary"
        customer = customers.record_bounce(address, permanent, f"{kind} failure: {bounce.reason}")
        if customer is not None and ctx.ticket is not None:
            tickets.record(ctx.ticket, "bounce", f"{kind} delivery failure for {address}",
                           actor="mail server", via="email")


STEPS = (parse, classify_mail, identify_sender, find_ticket, extract_reply, apply)


def _mailbox_for(ctx: Context):
    for address in ctx.row.rcpt_to.split("\n") + [a for _, a in ctx.mail.to + ctx.mail.cc]:
        mailbox = ctx.settings.mailbox_for(address) if address else None
        if mailbox is not None:
            return mailbox
    return ctx.settings.mailboxes[0]


def process(settings, inbound_id: int, notify: bool = True, historic: bool = False,
            allow_defer: bool = False) -> Context:
    """Run the steps over one stored mail. Outcomes are recorded on the row; an unexpected
    error marks it failed (kept for `postdesk replay`) and is re-raised for the job system."""
    row = InboundMail.get_by_id(inbound_id)
    ctx = Context(settings=settings, row=row, notify=notify, historic=historic, allow_defer=allow_defer)
    if row.state in ("processed", "rejected"):
        ctx.outcome = "duplicate"
        log.info("inbound %d already %s; nothing to do", inbound_id, row.state)
        return ctx
    step = None
    try:
        for step in STEPS:
            step(ctx)
            log.debug("%s inbound=%d step=%s", _mid(ctx), inbound_id, step.__name__)
    except Defer as reason:
        ctx.outcome = "deferred"
        log.info("%s inbound=%d deferred at %s: %s", _mid(ctx), inbound_id, step.__name__, reason)
    except Discard as outcome:
        ctx.outcome = outcome.outcome
        inbound.finish(row, "processed", outcome.outcome, str(outcome), message_id=_mid(ctx))
        log.info("%s inbound=%d %s at %s: %s", _mid(ctx), inbound_id, outcome.outcome,
                 step.__name__, outcome)
    except Reject as reason:
        ctx.outcome = "rejected"
        inbound.finish(row, "rejected", "rejected", str(reason), message_id=_mid(ctx))
        log.warning("%s inbound=%d rejected at %s: %s", _mid(ctx), inbound_id, step.__name__, reason)
    except Exception:
        ctx.outcome = "failed"
        log.exception("%s inbound=%d failed at %s", _mid(ctx), inbound_id, step.__name__)
        try:
            inbound.finish(row, "failed", "failed", traceback.format_exc(), message_id=_mid(ctx))
        except Exception:  # the database itself is failing: the row stays "received" for the sweeper
            log.exception("%s inbound=%d could not be marked failed", _mid(ctx), inbound_id)
        raise
    else:
        log.info("%s inbound=%d %s ticket=#%s threaded_by=%s", _mid(ctx), inbound_id,
                 ctx.outcome, ctx.ticket.number if ctx.ticket else "-", ctx.threaded_by or "-")
    return ctx


def _mid(ctx: Context) -> str:
    return ctx.mail.message_id if ctx.mail else "<unparsed>"
