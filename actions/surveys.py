"""Satisfaction surveys: asked once per resolution, answered by a click or a reply, reported.

A ticket resolved schedules a survey `surveys.delay_minutes` later; reopened before then, the
survey is cancelled, and the send job checks again that the ticket still stands resolved by the
same resolution. The mail carries one link per rating, each signed for its survey and its rating
(mailer/tokens.link_token). Mail scanners open every link in a mail before the client does, so
opening a link records nothing: the page sends the rating by a POST, from its button, which a
person presses and scanners, even those that run a page's scripts, do not. What the dashboards group by (agent,
tier, mailbox, SLA met) is copied onto the survey when it is scheduled.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from dataclasses import dataclass, field

from peewee import JOIN, fn

from mailer import quotes, ratings, tokens
from models import outbox, tickets
from models.base import db, utcnow
from models.tables import Customer, Event, Survey, Ticket

from . import notices
from .result import Done, refuse

log = logging.getLogger(__name__)
SCORES = (5, 4, 3, 2, 1)
SYSTEM = "postdesk"


def schedule(settings, ticket: Ticket, agent=None) -> Survey | None:
    """A survey for the ticket's latest resolution, when its mailbox and its customer's tier are
    surveyed; None otherwise. One per resolution, however often this is called."""
    conf, customer = settings.surveys, ticket.customer
    configured = settings.mailbox_for(ticket.mailbox.address)
    if not conf.enabled or (configured is not None and not configured.surveys) \
            or (conf.tiers and customer.tier not in conf.tiers) or ticket.resolved_at is None:
        return None
    resolver = ticket.assignee if ticket.assignee_id else agent
    from .sla import was_breached

    running = ticket.sla_state in ("breached", "met", "running", "paused")  # else no clock ran
    sla_met = not was_breached(ticket) if running else None
    survey_id = Survey.insert(
        ticket=ticket, resolved_at=ticket.resolved_at, customer=customer, mailbox=ticket.mailbox_id,
        agent=getattr(resolver, "id", None), tier=customer.tier, sla_met=sla_met,
        language=notices.client_language(customer, ticket.mailbox),
        scheduled_for=ticket.resolved_at + dt.timedelta(minutes=conf.delay_minutes)).on_conflict_ignore().execute()
    if not survey_id:
        return None
    tickets.record(ticket, "survey_scheduled", f"in {conf.delay_minutes} minutes", new={"survey": survey_id})
    return Survey.get_by_id(survey_id)


def cancel(ticket: Ticket, why: str) -> int:
    """Cancel the ticket's surveys not sent yet (it was reopened): how many."""
    cancelled = (Survey.update(state="cancelled", reason=why)
                 .where((Survey.ticket == ticket) & (Survey.state == "scheduled")).execute())
    if cancelled:
        tickets.record(ticket, "survey_cancelled", why)
    return cancelled


def send_due(settings, now: dt.datetime | None = None, limit: int = 200) -> list[int]:
    """Send the surveys whose time has come; returns the outbox ids to deliver. Each survey is
    taken in its own transaction from "scheduled", so two jobs never send one twice."""
    now = now or utcnow()
    due = (Survey.select(Survey.id).where((Survey.state == "scheduled") & (Survey.scheduled_for <= now))
           .order_by(Survey.scheduled_for).limit(limit))
    queued = []
    for survey_id in [s.id for s in due]:
        try:
            with db.atomic():
                if not Survey.update(state="sending").where((Survey.id == survey_id)
                                                            & (Survey.state == "scheduled")).execute():
                    continue  # another job took it
                queued += _send(settings, Survey.get_by_id(survey_id), now)
        except Exception:  # rolled back: it stays scheduled for the next run and holds up no other
            log.exception("survey %d could not be sent; it stays due", survey_id)
    return queued


def _send(settings, survey: Survey, now: dt.datetime) -> list[int]:
    ticket = survey.ticket
    why = _not_to_send(settings, survey, ticket, now)
    if why:
        Survey.update(state="cancelled" if why.startswith("reopened") else "skipped", reason=why) \
            .where(Survey.id == survey.id).execute()
        tickets.record(ticket, "survey_skipped", why, new={"survey": survey.id})
        return []
    rows = notices.mail_client(settings, ticket, "survey", "survey", links=rating_links(settings, survey),
                               unsubscribe=unsubscribe_url(settings, ticket.customer))
    if not rows:  # withheld: the event says why
        Survey.update(state="skipped", reason="withheld (see the ticket's events)") \
            .where(Survey.id == survey.id).execute()
        return []
    Survey.update(state="sent", sent_at=now, message_id=rows[0].message_id).where(Survey.id == survey.id).execute()
    tickets.record(ticket, "survey_sent", f"to {ticket.customer.email}", new={"survey": survey.id})
    return [row.id for row in rows]


def _not_to_send(settings, survey: Survey, ticket: Ticket, now: dt.datetime) -> str:
    if ticket.status not in ("resolved", "closed") or ticket.resolved_at != survey.resolved_at:
        return "reopened before the survey was sent"
    cooldown = settings.surveys.cooldown_days
    if cooldown and Survey.select().where((Survey.customer == survey.customer_id) & (Survey.state == "sent")
                                          & (Survey.sent_at >= now - dt.timedelta(days=cooldown))).exists():
        return f"{ticket.customer.email} was surveyed within {cooldown} days"
    return ""


def public_url(settings) -> str:
    return (settings.web.public_url or settings.web.base_url).rstrip("/") \
        or f"http://{settings.web.host}:{settings.web.port}"


def rating_links(settings, survey: Survey) -> list[tuple[int, str]]:
    """(rating, link) for 5 down to 1."""
    base = public_url(settings)
    return [(score, f"{base}/survey/{tokens.link_token(settings.signing_key, 's', survey.id, score)}")
            for score in SCORES]


def unsubscribe_url(settings, customer: Customer) -> str:
    return f"{public_url(settings)}/unsubscribe/{tokens.link_token(settings.signing_key, 'u', customer.id)}"


# --- answers ---------------------------------------------------------------------------------

def check_answer(settings, survey: Survey | None, now: dt.datetime | None = None) -> str:
    """Why this survey cannot take a rating now ("" when it can), in words for the client."""
    now = now or utcnow()
    if survey is None or survey.state != "sent" or survey.sent_at is None:
        return "unknown"
    if now > survey.sent_at + dt.timedelta(days=settings.surveys.valid_days):
        return "expired"
    if survey.responded_at and now > survey.responded_at + dt.timedelta(hours=settings.surveys.change_hours):
        return "closed"
    return ""


def answer(settings, survey: Survey, rating: int, *, via: str, comment: str | None = None,
           now: dt.datetime | None = None) -> Done:
    """Record (or change) the rating, and the comment when one is given. The first rating at or
    below `surveys.alert_at_or_below` alerts the assignee and the team and, configurably, reopens
    the ticket; words beyond a thank-you are mailed to them whatever the rating. Only what is new
    is recorded and mailed: the same answer sent again (a reload, a replay of the link) changes
    nothing, a rating flipped low again alerts no one twice, and a survey takes at most
    MAX_ANSWERS changes, so its public link cannot be made to mail the staff without end.
    Returns the outbox ids to deliver."""
    now = now or utcnow()
    refuse(check_answer(settings, survey, now))
    if rating not in SCORES:
        refuse("unknown")
    ticket = survey.ticket
    comment = comment.strip()[:5000] if comment is not None else None
    words = comment if comment and comment != survey.comment else ""  # what this answer adds
    if rating == survey.rating and not words:
        return Done("unchanged", ticket)
    given = _answers_given(survey)
    if len(given) >= MAX_ANSWERS:
        refuse("closed")
    earlier = [int(json.loads(new)) for action, new in given if action == "survey_rating" and new]
    queued: list[int] = []
    with db.atomic():
        old = survey.rating
        fields = {"rating": rating, "responded_via": via, "responded_at": survey.responded_at or now}
        if comment is not None:
            fields["comment"] = comment
        # Compare and set: of two answers sent at once (a double click, two tabs), the second
        # finds the rating changed under it and changes nothing, so nobody is alerted twice.
        if not Survey.update(**fields).where((Survey.id == survey.id) & (
                Survey.rating.is_null() if old is None else Survey.rating == old)).execute():
            return Done("unchanged", ticket)
        if old != rating:
            tickets.record(ticket, "survey_rating", f"{old} → {rating}" if old else f"rated {rating} of 5",
                           actor=ticket.customer.email, via=via, old=old, new=rating)
        if words:
            tickets.record(ticket, "survey_comment", words[:1000], actor=ticket.customer.email, via=via)
        threshold = settings.surveys.alert_at_or_below
        if rating <= threshold and all(given > threshold for given in earlier):
            queued = _low_rating(settings, survey, ticket, rating, words or survey.comment)
        elif words and not quotes.is_sign_off(words):
            # "4 - but the printer still fails", "Good, but how do I export my data?", or what a
            # client adds to a low rating: words beyond a thank-you go to the people on the ticket.
            queued = _tell_agents(settings, ticket, rating, words, low=rating <= threshold)
    return Done("survey_rating", ticket, tuple(queued))


# Ratings and comments one survey takes: enough for a client to change their mind, not a way to
# mail the staff in a loop (Zendesk limits how often a rating can change, too).
MAX_ANSWERS = 10


def _answers_given(survey: Survey) -> list[tuple[str, str | None]]:
    """The ratings and comments this survey was given, (action, new) from its ticket's log since
    it was sent."""
    if survey.rating is None:
        return []
    sent = Event.select(fn.MAX(Event.id)).where((Event.ticket == survey.ticket_id) & (Event.action == "survey_sent"))
    return list(Event.select(Event.action, Event.new).where(
        (Event.ticket == survey.ticket_id) & Event.action.in_(("survey_rating", "survey_comment"))
        & (Event.id > fn.COALESCE(sent, 0))).tuples())


def add_comment(settings, survey: Survey, text: str, now: dt.datetime | None = None) -> Done:
    """The comment the page asks for after a rating."""
    refuse(check_answer(settings, survey, now) or ("" if survey.rating else "unknown"))
    return answer(settings, survey, survey.rating, via=survey.responded_via or "web", comment=text, now=now)


def _low_rating(settings, survey: Survey, ticket: Ticket, rating: int, comment: str) -> list[int]:
    from . import sla
    from . import tickets as staff

    ticket = staff.surviving(ticket)  # rated after a merge: the ticket the work went on to
    ids = _tell_agents(settings, ticket, rating, comment, low=True)
    sla.complain(settings, ticket, f"rated {rating} of 5 by {ticket.customer.email}")
    if settings.surveys.reopen_on_low_rating and ticket.status in ("resolved", "closed"):
        done = staff.set_status(ticket, "open", settings=settings, actor=sla.System(), via="worker")
        ids += list(done.outbox_ids)
    return ids


def _tell_agents(settings, ticket: Ticket, rating: int, comment: str, *, low: bool) -> list[int]:
    """The rating and comment, mailed to the assignee first, then the team."""
    agents = notices.team_of(settings, ticket)
    if ticket.assignee_id and ticket.assignee.active:
        agents = [ticket.assignee, *[a for a in agents if a.id != ticket.assignee_id]]
    rows = notices.mail_agents(settings, ticket, agents, "rating_alert", "rating_alert", rating=rating,
                               comment=comment, customer=ticket.customer, low=low)
    return [row.id for row in outbox.queue_many(rows)]


def replied_to(ticket: Ticket, mail) -> Survey | None:
    """The sent survey of this ticket that the mail answers (by In-Reply-To or References)."""
    ids = [i for i in [*mail.in_reply_to, *mail.references] if i]
    if not ids:
        return None
    return (Survey.select().where((Survey.ticket == ticket) & Survey.message_id.in_(ids)
                                  & (Survey.state == "sent")).order_by(Survey.id.desc()).first())


def answer_by_mail(settings, ticket: Ticket, customer, mail, reply_text: str) -> Done | None:
    """A reply to a survey mail that reads as a rating ("5", "4 - fast", "满意"): recorded as
    the survey's answer, not as a message. None when it is no such reply (an unclear answer,
    another writer, a survey past its window): the caller keeps it as an ordinary message."""
    survey = replied_to(ticket, mail)
    if survey is None or survey.customer_id != customer.id or check_answer(settings, survey):
        return None
    found = ratings.read(reply_text)
    if found is None:
        return None
    return answer(settings, survey, found.score, via="email", comment=found.comment or None)


# --- unsubscribing ---------------------------------------------------------------------------

def unsubscribe(customer: Customer) -> bool:
    """No more surveys and progress updates to this customer (answers to their mail still go)."""
    return bool(Customer.update(unsubscribed_at=utcnow())
                .where((Customer.id == customer.id) & Customer.unsubscribed_at.is_null()).execute())


# --- the report ------------------------------------------------------------------------------

@dataclass
class Group:
    name: str
    sent: int = 0
    answered: int = 0
    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))

    @property
    def response_rate(self) -> float:
        return self.answered / self.sent if self.sent else 0.0

    @property
    def average(self) -> float:
        return sum(k * v for k, v in self.distribution.items()) / self.answered if self.answered else 0.0

    @property
    def csat(self) -> float:
        """The share of answers that are 4 or 5 (the usual CSAT)."""
        return (self.distribution[4] + self.distribution[5]) / self.answered if self.answered else 0.0


GROUPINGS = ("agent", "tier", "mailbox")


def report(since: dt.datetime | None = None, by: str = "") -> list[Group]:
    """Response rate, average, distribution and CSAT of the surveys sent since `since`, in all
    and per agent, tier or mailbox."""
    from models.tables import Agent, Mailbox

    query = (Survey.select(Survey.rating, Survey.tier, Agent.email.alias("agent_email"),
                           Mailbox.address.alias("mailbox_address"))
             .join(Agent, on=(Survey.agent == Agent.id), join_type=JOIN.LEFT_OUTER)
             .switch(Survey).join(Mailbox, on=(Survey.mailbox == Mailbox.id))
             .where(Survey.state == "sent"))
    if since is not None:
        query = query.where(Survey.sent_at >= since)
    groups: dict[str, Group] = {}
    for row in query.dicts().iterator():
        name = {"agent": row["agent_email"] or "(nobody)", "tier": row["tier"], "mailbox": row["mailbox_address"],
                "": "all"}[by]
        group = groups.setdefault(name, Group(name))
        group.sent += 1
        if row["rating"]:
            group.answered += 1
            group.distribution[row["rating"]] += 1
    return sorted(groups.values(), key=lambda g: (-g.sent, g.name))


def report_text(groups: list[Group], as_csv: bool = False) -> str:
    header = ["group", "sent", "answered", "response_rate", "average", "csat", "1", "2", "3", "4", "5"]
    rows = [[g.name, g.sent, g.answered, f"{g.response_rate:.1%}", f"{g.average:.2f}", f"{g.csat:.1%}",
             *[g.distribution[k] for k in range(1, 6)]] for g in groups]
    if as_csv:
        out = io.StringIO()
        csv.writer(out).writerows([header, *rows])
        return out.getvalue()
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in
                               enumerate(zip(r, widths, strict=True))).rstrip() for r in [header, *rows]) + "\n"

