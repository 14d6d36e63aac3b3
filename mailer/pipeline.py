"""The ingest pipeline: stored raw mail → ticket, message, events and outbox rows, step by step."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field

from peewee import IntegrityError

from models import inbound, tickets
from models.base import db
from models.tables import InboundMail, Message, Ticket

from . import classify, notify, parsing, quotes, threading
from .parsing import ParsedMail

log = logging.getLogger(__name__)


class Discard(Exception):
    """Stop quietly: the mail is recorded with this outcome and nothing else happens."""

    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome = outcome


class Reject(Exception):
    """The mail cannot be taken; recorded as rejected with a human-readable reason."""


@dataclass
class Context:
    settings: object
    row: InboundMail
    notify: bool = True
    mail: ParsedMail | None = None
    automatic: str = ""  # why the mail is an automatic reply, or ""
    sender: str = ""
    ticket: Ticket | None = None
    threaded_by: str = ""
    reply_text: str = ""
    outcome: str = ""
    outbox_ids: list[int] = field(default_factory=list)


def parse(ctx: Context) -> None:
    ctx.mail = parsing.parse(bytes(ctx.row.raw))
    if "@" not in ctx.mail.from_address:
        raise Reject(f"no usable sender address in From ({ctx.mail.from_address or 'none'})")
    # Idempotency key (Discourse): a Message-ID we already hold means this mail was taken.
    if Message.select().where(Message.message_id == ctx.mail.message_id).exists():
        raise Discard("duplicate", f"already stored as {ctx.mail.message_id}")


def classify_mail(ctx: Context) -> None:
    ours = {m.address.lower() for m in ctx.settings.mailboxes}
    reason = classify.loop_reason(ctx.mail, ours)
    if reason:
        raise Discard("loop", reason)
    reason = classify.bounce_reason(ctx.mail)
    if reason:
        raise Discard("bounce", reason)
    ctx.automatic = classify.auto_reply_reason(ctx.mail)


def identify_sender(ctx: Context) -> None:
    # Agents by address *and* proof come with reply tokens; until then every sender is a customer.
    ctx.sender = ctx.mail.from_address


def find_ticket(ctx: Context) -> None:
    for rule, finder in (("header", lambda: threading.by_headers(ctx.mail)),
                         ("subject_tag", lambda: threading.by_subject_tag(ctx.mail, ctx.sender))):
        ticket = finder()
        if ticket is not None:
            ctx.ticket, ctx.threaded_by = ticket, rule
            return
    ctx.threaded_by = "new"


def extract_reply(ctx: Context) -> None:
    ctx.reply_text = quotes.extract_reply(ctx.mail.reply_basis)


def apply(ctx: Context) -> None:
    """Every write of this mail in one transaction, including the row's own outcome."""
    mail, settings = ctx.mail, ctx.settings
    try:
        _write(ctx, mail, settings)
    except IntegrityError:
        # Another worker stored the same Message-ID between our check and our insert.
        if Message.select().where(Message.message_id == mail.message_id).exists():
            raise Discard("duplicate", f"stored concurrently as {mail.message_id}") from None
        raise


def _write(ctx: Context, mail, settings) -> None:
    with db.atomic():
        customer = tickets.find_or_create_customer(mail.from_address, mail.from_name)
        if ctx.ticket is None:
            mailbox = tickets.sync_mailbox(_mailbox_for(ctx))
            ctx.ticket = tickets.open_ticket(mailbox, customer, mail.subject,
                                             settings.tickets.number_start)
            ctx.outcome = "new_ticket"
        else:
            ctx.outcome = "added"
        message = tickets.add_inbound_message(
            ctx.ticket, customer, mail, reply_text=ctx.reply_text, threaded_by=ctx.threaded_by,
            inbound_id=ctx.row.id, automatic=bool(ctx.automatic))
        if ctx.automatic:
            ctx.outcome = "auto_reply"
        elif ctx.outcome == "new_ticket" and ctx.notify:
            ctx.outbox_ids.append(notify.acknowledge(settings, ctx.ticket, customer, message).id)
        inbound.finish(ctx.row, "processed", ctx.outcome, message_id=mail.message_id)


STEPS = (parse, classify_mail, identify_sender, find_ticket, extract_reply, apply)


def _mailbox_for(ctx: Context):
    for address in ctx.row.rcpt_to.split("\n") + [a for _, a in ctx.mail.to + ctx.mail.cc]:
        mailbox = ctx.settings.mailbox_for(address) if address else None
        if mailbox is not None:
            return mailbox
    return ctx.settings.mailboxes[0]


def process(settings, inbound_id: int, notify: bool = True) -> Context:
    """Run the steps over one stored mail. Outcomes are recorded on the row; an unexpected
    error marks it failed (kept for `postdesk replay`) and is re-raised for the job system."""
    row = InboundMail.get_by_id(inbound_id)
    ctx = Context(settings=settings, row=row, notify=notify)
    if row.state in ("processed", "rejected"):
        ctx.outcome = "duplicate"
        log.info("inbound %d already %s; nothing to do", inbound_id, row.state)
        return ctx
    step = None
    try:
        for step in STEPS:
            step(ctx)
            log.debug("%s inbound=%d step=%s", _mid(ctx), inbound_id, step.__name__)
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
        log.info("%s inbound=%d %s ticket=#%d threaded_by=%s", _mid(ctx), inbound_id,
                 ctx.outcome, ctx.ticket.number, ctx.threaded_by)
    return ctx


def _mid(ctx: Context) -> str:
    return ctx.mail.message_id if ctx.mail else "<unparsed>"
