"""The ingest pipeline: stored raw mail → ticket, message, events and outbox rows, step by step."""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass, field

from peewee import IntegrityError, OperationalError

from actions import mail as mail_actions
from actions.result import Done
from models import customers, dialect, inbound, search
from models.base import db, utcnow
from models.tables import InboundMail, Message, Ticket

from . import bounces, budget, classify, identity, logcontext, parsing, quotes, threading
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
    row: InboundMail | None
    notify: bool = True
    historic: bool = False  # imported past mail: keeps its own date
    allow_defer: bool = False  # may wait for the mail it answers (jobs, not imports)
    batched: bool = False  # in a batch's transaction: mail stored since it began is out of sight
    degraded: str = ""  # why this attempt reads the mail without the full parser, or ""
    read_ahead: int = 0  # how many of the first steps ran before the batch's transaction (see _read_ahead)
    mail: ParsedMail | None = None
    automatic: str = ""  # why the mail is an automatic reply, or ""
    unanswerable: str = ""  # why no acknowledgement answers it (a null sender, a list, no-reply…), or ""
    bounce: bounces.Bounce | None = None
    sender: str = ""
    unproven_agent: object = None  # an agent's address wrote, without their token or our MTA's proof
    unproven_why: str = "unproven"  # "not_theirs": another address wrote to the agent's reply address;
    # "no_proof": their reply address, without the DKIM proof our MTA gives their real mail
    relayed_by: str = ""  # the relay whose mail named its writer (our group, a form robot): the writer is the sender
    agent: object = None  # an agent proven by a token of theirs or our MTA's DKIM/DMARC verdict
    to_note_address: bool = False  # the agent wrote to their note address: internal only
    ticket: Ticket | None = None
    follow_up_of: Ticket | None = None  # the closed ticket this mail answers, when it opens a new one
    threaded_by: str = ""
    recipients: list[str] = field(default_factory=list)  # envelope, To, Cc, Delivered-To…
    conflict: dict | None = None  # threading rules that named different tickets, and which won
    reply_text: str = ""
    outcome: str = ""
    outbox_ids: list[int] = field(default_factory=list)


def parse(ctx: Context) -> None:
    limit = ctx.settings.smtp.max_message_bytes
    if ctx.row.size > limit:  # the edges refuse these; imports and replays meet the same rule
        raise Reject(f"message of {ctx.row.size} bytes is over the {limit}-byte limit")
    raw = bytes(ctx.row.raw)
    if ctx.degraded:
        ctx.mail = parsing.parse_degraded(raw, ctx.degraded)
    else:
        try:
            ctx.mail = parsing.parse(raw)
        except Exception as exc:  # parse degrades part by part; this is the last line of defence
            log.exception("%s inbound=%d unreadable", ctx.row.message_id, ctx.row.id)
            ctx.mail = parsing.parse_degraded(raw, f"unreadable: {type(exc).__name__}: {exc}")
    if ctx.mail.message_id_generated and ctx.row.message_id:
        ctx.mail.message_id = ctx.row.message_id  # the key the edge computed over the mail as sent


def discard_duplicate(ctx: Context) -> None:
    # Idempotency key (Discourse): a Message-ID we already hold means this mail was taken. An
    # agent's mail that was relayed (or refused) is kept as its outcome, not as a message.
    mid = ctx.mail.message_id
    if not inbound.is_taken(mid, other_than=ctx.row.id, agent_outcomes=AGENT_OUTCOMES):
        return
    # Taken: by this same mail (delivered again, by another route), or by other mail reusing
    # the Message-ID (broken forms and scripts send one for every mail). That one is kept,
    # under a key of its own content, and marked for review.
    if ctx.mail.message_id_generated:  # the id is that key already: the same content
        raise Discard("duplicate", f"already stored as {mid}")
    mine = parsing.synthetic_message_id(bytes(ctx.row.raw))
    earlier = [parsing.synthetic_message_id(raw) for raw in inbound.raws_taken_as(mid, ctx.row.id)]
    if not earlier or mine in earlier:
        raise Discard("duplicate", f"already stored as {mid}")
    if inbound.is_taken(mine, other_than=ctx.row.id, agent_outcomes=AGENT_OUTCOMES):
        raise Discard("duplicate", f"already stored as {mine} (its Message-ID {mid} is another mail's too)")
    ctx.mail.message_id = mine
    ctx.mail.problems.append(f"its Message-ID {mid[:200]} was already another mail's: kept as {mine}")


def classify_mail(ctx: Context) -> None:
    ours = ctx.settings.mailbox_addresses
    relayed = classify.relayed_for(ctx.mail, ours, ctx.settings.mailbox_domains, ctx.settings.inbound.form_senders)
    reason = "" if relayed else classify.loop_reason(ctx.mail, ours)
    if reason:
        raise Discard("loop", reason)
    ctx.bounce = bounces.detect(ctx.mail, null_sender=ctx.row.mail_from == inbound.NULL_SENDER)
    if ctx.bounce is None:
        if relayed is not None:  # its writer is the sender: the customer, and the one answered
            log.info("%s relayed by %s for %s", ctx.mail.message_id, ctx.mail.from_address, relayed[1])
            ctx.relayed_by = ctx.mail.from_address
            ctx.mail.from_name, ctx.mail.from_address = relayed
        ctx.automatic = classify.auto_reply_reason(ctx.mail, ours)
        ctx.unanswerable = classify.unanswerable_reason(ctx.mail, ctx.row.mail_from == inbound.NULL_SENDER, ours)


def identify_sender(ctx: Context) -> None:
    if ctx.bounce is not None:
        return  # a report from a mail server, not from a person
    if "@" not in ctx.mail.from_address:
        raise Reject(f"no usable sender address in From ({ctx.mail.from_address or 'none'})")
    ctx.sender = ctx.mail.from_address
    ctx.recipients = _recipients(ctx)
    if ctx.relayed_by:
        return  # a writer a relay named, not one the mail proves: a client, never an agent
    agent, misuse, note = identity.agent_by_token(ctx.settings, ctx.recipients, ctx.sender)
    if agent is not None and ctx.settings.inbound.trusted_authserv_id \
            and not identity.is_proven(ctx.mail, ctx.settings.inbound):
        # Our MTA vouches for senders, and not for this one: the reply address alone (seen by
        # whoever the agent's mail also went to) is no proof where a real one is to be had.
        log.warning("%s to %s's reply address without our MTA's DKIM/DMARC proof: handled as a customer",
                    ctx.mail.message_id, ctx.sender)
        ctx.unproven_agent, ctx.unproven_why = agent, "no_proof"
        return
    if agent is not None:
        ctx.agent, ctx.to_note_address = agent, note  # a valid per-agent token from that agent's own address
        return
    if misuse:  # a forwarded notice, or a stolen token: the mail is a client's, nothing more
        log.warning("%s %s: handled as a customer", ctx.mail.message_id, misuse)
    proven = identity.is_proven(ctx.mail, ctx.settings.inbound)
    if not (proven or misuse or ctx.sender.rpartition("@")[2] in ctx.settings.mailbox_domains):
        return  # neither vouched for by our MTA nor claiming our domain: a customer, no lookup
    agent = identity.find_agent(ctx.sender)
    if agent is None:
        if misuse:  # their own reply address, from an address not theirs (an alias, a shared mailbox,
            # a forward, or a leak): the agent it names is told nothing reached the client
            ctx.unproven_agent, ctx.unproven_why = identity.token_agent(ctx.settings, ctx.recipients), "not_theirs"
        return
    if proven:
        ctx.agent = agent
    else:  # a forged or unverifiable staff address gets no more than a customer would
        log.warning("%s from agent address %s without DKIM/DMARC proof: handled as a customer",
                    ctx.mail.message_id, ctx.sender)
        ctx.unproven_agent = agent


def find_ticket(ctx: Context) -> None:
    """The ticket a mail answers, by the evidence in order of strength: our signed token; an
    In-Reply-To naming a mail we sent or stored; a [#N] tag from someone trusted on that ticket;
    References. When In-Reply-To or the tag disagrees with a weaker rule, the stronger wins and
    the disagreement is kept (`ctx.conflict`), so one early misthreaded mail named in References
    does not pull the rest of the conversation after it."""
    mail = ctx.mail
    if ctx.bounce is not None:
        ctx.ticket = threading.by_message_ids(ctx.bounce.original_message_ids)
        ctx.threaded_by = "header" if ctx.ticket else ""
        return
    found, rule = threading.by_token(ctx.settings, ctx.recipients), "token"
    if found is None:
        found, rule = _by_weighed_evidence(ctx)
    if found is not None:
        if ctx.agent is None and _needs_follow_up(found, ctx.settings):
            # A client answering a ticket closed long ago starts a new one, linked to the old.
            ctx.follow_up_of, ctx.threaded_by = found, "new"
        else:
            ctx.ticket, ctx.threaded_by = found, rule
        return
    answered = mail.in_reply_to + mail.references
    if ctx.allow_defer and answered and ctx.batched:
        # The mail it answers may have been stored since the batch's transaction began: look
        # again once the batch is committed, with everything stored by then in sight.
        raise Defer("answers mail not in sight of its batch")
    if ctx.allow_defer and answered and inbound.is_waiting(answered, other_than=ctx.row.id):
        # Two workers, a question and its reply-all: do not open a second ticket for the reply.
        raise Defer("answers a stored mail that is not processed yet")
    ctx.threaded_by = "new"


def _by_weighed_evidence(ctx: Context):
    mail = ctx.mail
    replied, referenced = threading.by_headers(mail)
    tagged = threading.by_subject_tag(mail, ctx.sender, ctx.agent is not None) \
        if threading.TAG_RE.search(mail.subject) else None
    if replied is not None:
        if tagged is not None and tagged.id != replied.id:
            ctx.conflict = {"chosen": "in_reply_to", "in_reply_to": replied.number, "subject_tag": tagged.number}
        return replied, "header"
    if tagged is not None and referenced is None and ctx.agent is None \
            and (mail.in_reply_to or mail.references or quotes.FORWARD_SUBJECT.match(mail.subject)) \
            and not threading.same_conversation(mail.subject, tagged.subject):
        # It answers or forwards mail we never saw, and its subject is another one's: the tag is
        # another system's ("Re: [#2] Delivery delayed" from a carrier's helpdesk), not ours.
        mail.problems.append(f"its subject's [#{tagged.number}] names ticket #{tagged.number} "
                             f"({tagged.subject[:100]!r}), but it answers or forwards mail we never sent or "
                             f"received: taken for another system's number")
        return None, ""
    if tagged is not None:
        if referenced is not None and referenced.id != tagged.id:
            ctx.conflict = {"chosen": "subject_tag", "subject_tag": tagged.number, "references": referenced.number}
        return tagged, "subject_tag"
    return referenced, "header"


def _recipients(ctx: Context) -> list[str]:
    """Where the mail was sent: the envelope, To and Cc, and what our MTA recorded."""
    mail = ctx.mail
    found = ctx.row.rcpt_to.split("\n") + [a for _, a in mail.to + mail.cc] + [
        mail.header(h) for h in ("Delivered-To", "X-Original-To")]
    return [r for r in found if r]


def extract_reply(ctx: Context) -> None:
    if ctx.bounce is None:
        ctx.reply_text = quotes.extract_reply(ctx.mail.reply_basis, ctx.settings.mailbox_addresses)


def apply(ctx: Context) -> None:
    """Pick what the mail is and call the one action for it; the action's writes and the row's
    own outcome commit together."""
    mail = ctx.mail
    # Reads before the write transaction: SQLite has one writer at a time.
    found = customers.find(mail.from_address) if ctx.bounce is None else None
    try:
        with db.atomic():
            if ctx.bounce is not None:
                done = mail_actions.record_bounce(ctx.bounce, ctx.ticket)
            elif ctx.automatic and ctx.ticket is None:
                # An out-of-office that answers nothing we know: kept (the row), opens no ticket,
                # gets no answer, so two robots cannot feed each other tickets.
                done = Done("auto_reply_unthreaded")
            elif ctx.agent is not None and ctx.ticket is not None and ctx.automatic:
                # An agent's out-of-office answering a notice: never their answer to the client.
                done = mail_actions.record_agent_auto_reply(ctx.ticket, ctx.agent, mail, reason=ctx.automatic)
            elif ctx.agent is not None and ctx.ticket is None and (original := _forwarded_for_client(ctx)):
                done = mail_actions.open_for_client(ctx.settings, ctx.agent, mail, original, mailbox=_mailbox_for(ctx),
                                                    inbound_id=ctx.row.id, notify=ctx.notify, at=_when(ctx))
            elif ctx.agent is not None and ctx.ticket is not None:
                done = mail_actions.answer_from_agent(ctx.settings, ctx.ticket, ctx.agent, mail,
                                                      reply_text=ctx.reply_text, inbound_id=ctx.row.id,
                                                      note=ctx.to_note_address)
            else:
                done = mail_actions.receive_customer_mail(
                    ctx.settings, mail, ticket=ctx.ticket, follow_up_of=ctx.follow_up_of,
                    mailbox=_mailbox_for(ctx), threaded_by=ctx.threaded_by, reply_text=ctx.reply_text,
                    inbound_id=ctx.row.id, automatic=bool(ctx.automatic), notify=ctx.notify,
                    at=_when(ctx), found_customer=found, conflict=ctx.conflict, historic=ctx.historic,
                    unanswerable=ctx.unanswerable, unproven_agent=None if ctx.automatic else ctx.unproven_agent,
                    unproven_why=ctx.unproven_why)
            ctx.outcome, ctx.ticket, ctx.outbox_ids = done.outcome, done.ticket, list(done.outbox_ids)
            inbound.finish(ctx.row, "processed", ctx.outcome, message_id=mail.message_id)
    except IntegrityError:
        # Another worker stored the same Message-ID between our check and our insert.
        if Message.select().where(Message.message_id == mail.message_id).exists():
            raise Discard("duplicate", f"stored concurrently as {mail.message_id}") from None
        raise
    except OperationalError as exc:
        # Another worker's transaction held what this mail needed (PostgreSQL chose it as a
        # deadlock's victim, or it waited out lock_timeout): its writes are rolled back, and it
        # is tried again alone once the batch is committed, not counted as a failed attempt.
        if ctx.allow_defer and dialect.is_lock_conflict(exc):
            raise Defer(f"lost a lock to a concurrent transaction: {str(exc).splitlines()[0]}") from None
        raise


def _forwarded_for_client(ctx: Context):
    """A client's mail an agent forwarded to us to open a ticket for the client (not their own
    mail, not one of ours, not another agent's), or None."""
    mail = ctx.mail
    if ctx.automatic or ctx.follow_up_of is not None:
        return None
    original = quotes.forwarded(mail.text, subject_says_so=bool(quotes.FORWARD_SUBJECT.match(mail.subject))) \
        or _attached_original(ctx)
    if original is None or original.sender in ctx.settings.mailbox_addresses or identity.find_agent(original.sender):
        return None
    return original


def _attached_original(ctx: Context):
    """A client's mail an agent forwarded as an attachment (Outlook's and Gmail's "Forward as
    attachment"): the one attached message, read as an inline forward is, the agent's own words
    its note."""
    attached = [a for a in ctx.mail.attachments if a.content_type == "message/rfc822"]
    if len(attached) != 1:
        return None
    inner = parsing.parse(attached[0].data)
    outer_subject = quotes.FORWARD_SUBJECT.sub("", ctx.mail.subject, count=1).strip().lower()
    if "@" not in inner.from_address or not (quotes.FORWARD_SUBJECT.match(ctx.mail.subject)
                                             or outer_subject == inner.subject.strip().lower()):
        return None  # a mail attached as evidence ("Phishing attempt against our clients"), not a forward
    return quotes.Forwarded(note=ctx.reply_text, sender_name=inner.from_name, sender=inner.from_address,
                            subject=inner.subject, text=inner.text)


EARLIEST_MAIL = dt.datetime(1971, 1, 1)  # before the first networked mail: a Date that cannot be true


def _when(ctx: Context):
    """Imported mail keeps the time it was written. Live mail that opens a ticket opens it when it
    reached us, when the client's wait began (a backlog, a retry or a replay of quarantined mail
    later does not give it away); a reply is stamped now, in its place among what happened on
    the ticket since (an agent's answer meanwhile did not answer it). A Date that cannot be true
    (before 1971, or ahead of our clock) is brought within those bounds: the SLA clocks count
    business time from it, and a century of it is not the mail's to spend."""
    now = utcnow()
    if ctx.historic and ctx.mail.date is not None:
        return min(max(ctx.mail.date.replace(tzinfo=None), EARLIEST_MAIL), now)
    if ctx.ticket is None and ctx.row.received_at:
        return min(ctx.row.received_at, now)
    return now


def _needs_follow_up(ticket: Ticket, settings) -> bool:
    """A reply to a ticket closed longer ago than the reopen window opens a linked new one. The
    window counts from the ticket's last contact too (`last_contact_at`: our last mail to the
    client, or theirs while it was open): an agent who answers on a ticket closed long ago has
    opened the conversation again, and the client's answer belongs to it."""
    if ticket.status != "closed":
        return False
    window = dt.timedelta(days=settings.tickets.reopen_closed_within_days)
    last = max((t for t in (ticket.closed_at, ticket.last_contact_at) if t is not None), default=None)
    return last is None or utcnow() - last > window


STEPS = (parse, classify_mail, extract_reply, discard_duplicate, identify_sender, find_ticket, apply)
MAIL_ONLY = (parse, classify_mail, extract_reply)  # they read the mail alone, never the database: see _read_ahead


def _mailbox_for(ctx: Context):
    for address in ctx.row.rcpt_to.split("\n") + [a for _, a in ctx.mail.to + ctx.mail.cc]:
        mailbox = ctx.settings.mailbox_for(address) if address else None
        if mailbox is not None:
            return mailbox
    return ctx.settings.mailboxes[0]


AGENT_OUTCOMES = ("relayed", "refused", "commands")


def process(settings, inbound_id: int, notify: bool = True, historic: bool = False,
            allow_defer: bool = False) -> Context:
    """Run the steps over one stored mail, within its time budget, as one leased attempt (see
    `process_many`)."""
    return process_many(settings, [inbound_id], notify=notify, historic=historic, allow_defer=allow_defer)[0]


def process_many(settings, inbound_ids: list[int], notify: bool = True, historic: bool = False,
                 allow_defer: bool = False) -> list[Context]:
    """Run the steps over each stored mail, within its own time budget, as one leased attempt;
    returns their contexts in the order given. Call it outside any transaction.

    Outcomes are recorded on the rows. An attempt that fails (an error, or over budget) is kept
    with its reason and retried later; after a failure that was probably the mail's fault (over
    budget, or two workers in a row died holding it) the next attempt reads the mail without the
    full parser, so it still opens a ticket, marked for review. When the attempts are used up the
    mail is quarantined with its reason, for `postdesk replay`.

    Mails on their first attempt are leased together (committed: a worker killed by a mail has
    used that attempt), then share one transaction, held for all their budgets, each applied in
    a savepoint of its own: a failing mail is rolled back alone and its failure recorded, and a
    commit, which costs about as much as a short mail, is paid once. A mail tried before is
    leased just before its attempt and tried alone, so one that kills its worker takes no other
    mail with it a second time. With `allow_defer`, a mail of a batch answering one it cannot
    find comes back "deferred": that one may have been stored since the batch began."""
    lease = budget.lease_seconds(settings.worker.mail_budget_seconds)
    fresh = inbound.lease_many(inbound_ids, lease, first_attempt_only=True)
    contexts = {i: Context(settings=settings, row=fresh.get(i), notify=notify, historic=historic,
                           allow_defer=allow_defer) for i in dict.fromkeys(inbound_ids)}
    if len(fresh) > 1:
        _read_ahead([ctx for ctx in contexts.values() if ctx.row is not None], settings.worker.mail_budget_seconds)
        with db.atomic(), search.batched(db.obj):
            inbound.hold(list(fresh), len(fresh) * lease)
            for ctx in contexts.values():
                if ctx.row is not None:
                    ctx.batched = True
                    _attempt(ctx)
    for inbound_id, ctx in contexts.items():
        if ctx.batched:
            continue
        ctx.row = ctx.row or inbound.lease(inbound_id, lease)
        if ctx.row is None:
            ctx.outcome = _not_leased(inbound_id)
        else:
            _attempt(ctx)  # alone: its apply commits by itself
    return [contexts[i] for i in inbound_ids]


def _read_ahead(batch: list[Context], seconds: float) -> None:
    """The first steps, those that read the mail alone (`MAIL_ONLY`: parsing is most of them),
    run for every mail of a batch before the batch's transaction: on SQLite that takes the one
    write lock, which the SMTP edge and the other workers wait for, so they go on meanwhile. A
    mail whose steps raise here (a discard, a rejection, a bug) is left to its attempt, which
    runs them again and records how they end; so are the mails left when the batch's one budget
    for this runs out (a lease outlasts one budget, not one per mail)."""
    ahead = 0
    while ahead < len(STEPS) and STEPS[ahead] in MAIL_ONLY:
        ahead += 1
    try:
        with budget.limit(seconds):
            for ctx in batch:
                with logcontext.about(message_id=ctx.row.message_id or None, inbound=ctx.row.id):
                    try:
                        for step in STEPS[:ahead]:
                            step(ctx)
                    except Exception:
                        continue
                ctx.read_ahead = ahead
    except budget.OverBudget:
        log.info("a batch's mails read ahead until its budget ran out; the rest are read in their attempts")


def _attempt(ctx: Context) -> None:
    """One leased mail through the steps, every line logged meanwhile naming the mail (and its
    ticket once found)."""
    with logcontext.about(message_id=ctx.row.message_id or None, inbound=ctx.row.id):
        _attempt_steps(ctx)


def _attempt_steps(ctx: Context) -> None:
    """One leased mail through the steps; how it ended is recorded on its row (in the batch's
    transaction when there is one)."""
    row, w = ctx.row, ctx.settings.worker
    if row.attempts > w.max_attempts:
        _quarantine(ctx, f"{row.previous_error}\n(all {w.max_attempts} attempts used)")
        return
    if _suspect(row):
        ctx.degraded = f"read without the MIME parser after attempt {row.attempts - 1}: " \
                       f"{row.previous_error.splitlines()[0]}"
    step = None
    try:
        with budget.limit(w.mail_budget_seconds):
            for step in STEPS[ctx.read_ahead:]:
                step(ctx)
                logcontext.note(message_id=_mid(ctx) or None, ticket=ctx.ticket.number if ctx.ticket else None)
                log.debug("%s inbound=%d step=%s", _mid(ctx), row.id, step.__name__)
    except budget.OverBudget as exc:
        _failed(ctx, f"{inbound.OVER_BUDGET}: {exc}, at step {_name(step)}")
    except Defer as reason:
        ctx.outcome = "deferred"
        inbound.release(row)
        log.info("%s inbound=%d deferred at %s: %s", _mid(ctx), row.id, _name(step), reason)
    except Discard as outcome:
        ctx.outcome = outcome.outcome
        inbound.finish(row, "processed", outcome.outcome, str(outcome), message_id=_mid(ctx))
        log.info("%s inbound=%d %s at %s: %s", _mid(ctx), row.id, outcome.outcome, _name(step), outcome)
    except Reject as reason:
        ctx.outcome = "rejected"
        inbound.finish(row, "rejected", "rejected", str(reason), message_id=_mid(ctx))
        log.warning("%s inbound=%d rejected at %s: %s", _mid(ctx), row.id, _name(step), reason)
    except Exception:
        log.exception("%s inbound=%d failed at %s", _mid(ctx), row.id, _name(step))
        _failed(ctx, f"failed at step {_name(step)}:\n{traceback.format_exc()}")
    else:
        log.info("%s inbound=%d %s ticket=#%s threaded_by=%s", _mid(ctx), row.id,
                 ctx.outcome, ctx.ticket.number if ctx.ticket else "-", ctx.threaded_by or "-")


def _suspect(row: InboundMail) -> bool:
    """Did the mail itself probably stop the last attempt? Over budget, yes; a worker that died
    holding it may have been killed by the mail or by an operator, so only twice in a row."""
    return row.previous_error.startswith((inbound.OVER_BUDGET, inbound.INTERRUPTED_AGAIN))


def _failed(ctx: Context, error: str) -> None:
    """This attempt is over: retry later, or quarantine when it was the last."""
    row, w = ctx.row, ctx.settings.worker
    if row.attempts >= w.max_attempts:
        _quarantine(ctx, error)
        return
    ctx.outcome = "failed"
    wait = 5 * 2 ** row.attempts
    log.warning("%s inbound=%d attempt %d of %d failed; retrying in %d s: %s", _mid(ctx), row.id,
                row.attempts, w.max_attempts, wait, error.splitlines()[0])
    try:
        inbound.retry_later(row, error, wait)
    except Exception:  # the database itself is failing: the lease runs out and the sweeper retries
        log.exception("%s inbound=%d: could not record the failure", _mid(ctx), row.id)


def _quarantine(ctx: Context, error: str) -> None:
    ctx.outcome = "quarantined"
    log.error("%s inbound=%d quarantined after %d attempts: %s", _mid(ctx), ctx.row.id,
              ctx.row.attempts, error.splitlines()[0] if error else "")
    try:
        inbound.quarantine(ctx.row, error)
    except Exception:
        log.exception("%s inbound=%d: could not quarantine", _mid(ctx), ctx.row.id)


def _not_leased(inbound_id: int) -> str:
    """Why a mail could not be taken: done already, held by another worker, or set aside."""
    row = InboundMail.select(InboundMail.state).where(InboundMail.id == inbound_id).first()
    if row is None:
        return "missing"
    state = {"processed": "duplicate", "rejected": "duplicate", "received": "leased"}.get(row.state, row.state)
    log.info("inbound %d not taken: %s", inbound_id, state)
    return state


def _name(step) -> str:
    return step.__name__ if step is not None else "start"


def _mid(ctx: Context) -> str:
    """The mail's Message-ID: parsed when we got that far, else the one stored with the row."""
    if ctx.mail is not None:
        return ctx.mail.message_id
    return ctx.row.message_id if ctx.row is not None and ctx.row.message_id else "<unparsed>"
