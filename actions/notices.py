"""Automatic mail to clients (acknowledgements), composed from templates and put in the outbox."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

from mailer import compose, reasons, tokens
from mailer.notify import message_id_domain, reply_address
from models import customers, outbox, statements, tickets
from models.base import db
from models.tables import Agent, Event, Outbox

# Automatic mail to clients: counted against the hourly limit per address, and never sent to an
# address that bounced for good or complained (models.customers.suppression_reason).
AUTOMATIC_KINDS = ("acknowledgement", "status_update", "progress_update", "survey")
# What a client may unsubscribe from (List-Unsubscribe): mail nobody asked for by writing.
UNSUBSCRIBABLE = ("progress_update", "survey")


def mail_client(settings, ticket, kind: str, template: str, *, auto_submitted: str = "auto-generated",
                unsubscribe: str = "", answering=None, **context) -> list[Outbox]:
    """Queue one automatic mail to the ticket's customer, from `template` in their language (text
    and HTML, the mailbox's own templates first), threaded under their last message (`answering`,
    when the caller holds it), from the support address with Reply-To the ticket. Nothing (an
    event says why) to an address that bounced for good, complained, unsubscribed (progress
    updates, surveys) or already got `auto_reply_limit_per_hour` automatic mails this hour."""
    customer = ticket.customer
    why = _withheld(settings, ticket, customer, kind)
    if why:
        tickets.record(ticket, f"{kind}_suppressed", why, new={"address": customer.email, "kind": kind})
        return []
    mailbox = ticket.mailbox
    configured = settings.mailbox_for(mailbox.address)
    language = client_language(customer, mailbox)
    mail = compose.render(template, language, configured.templates_folder(settings) if configured else "", html=True,
                          ticket=ticket, customer=customer, mailbox=mailbox, unsubscribe=unsubscribe, **context)
    last = answering or tickets.last_customer_message(ticket)
    message_id = compose.new_message_id(message_id_domain(settings))
    raw = compose.build(sender_name=mailbox.name, sender=mailbox.address, to=customer.email,
                        subject=tagged(ticket, mail.subject), text=mail.text, html=mail.html,
                        message_id=message_id, in_reply_to=last.message_id if last else "",
                        references=tuple(last.references.split()[-20:]) if last else (),
                        reply_to=reply_address(ticket), automatic=True, auto_submitted=auto_submitted,
                        unsubscribe=unsubscribe)
    return tickets.queue_client_mail(ticket, kind, mailbox.address, [customer.email], raw, message_id)


def _withheld(settings, ticket, customer, kind: str) -> str:
    why = customers.suppression_reason(customer.email, kind, customer=customer)
    if why:
        return why
    if kind in UNSUBSCRIBABLE and customer.unsubscribed_at:
        return f"{customer.email} unsubscribed on {customer.unsubscribed_at:%Y-%m-%d}"
    # A ticket a mailing list, a no-reply robot or the null sender opened: what withheld its
    # acknowledgement withholds every automatic mail after it (progress, status, survey). A spam
    # verdict or a no-auto-reply request was the one mail's, and holds back nothing later.
    withheld = None if kind == "acknowledgement" else Event.select(Event.detail, Event.new).where(
        (Event.ticket == ticket) & (Event.action == "acknowledgement_withheld")).first()
    if withheld is not None and json.loads(withheld.new or "{}").get("lasting"):
        return f"the mail that opened the ticket may not be answered automatically: {withheld.detail}"
    limit = settings.outgoing.auto_reply_limit_per_hour
    # The loop guard is for mail that incoming mail makes us send (two robots answering each other):
    # an agent's status change or a scheduled update is no loop.
    if kind == "acknowledgement" and outbox.recent_automatic_count(
            customer.email, AUTOMATIC_KINDS, dt.timedelta(hours=1)) >= limit:
        return f"{customer.email} already got {limit} automatic mails this hour (loop guard)"
    return ""


def tagged(ticket, subject: str) -> str:
    """The subject with the ticket's [#N], which clients keep when they reply."""
    tag = f"[#{ticket.number}]"
    return subject if tag in subject else f"{tag} {subject}"


def acknowledge(settings, ticket, customer, message) -> Outbox | None:
    """The "we received your request" mail for a new ticket (RFC 3834 auto-replied), with when
    the first answer is due."""
    rows = mail_client(settings, ticket, "acknowledgement", "acknowledgement", auto_submitted="auto-replied",
                       answering=message, expect=expected_answer(settings, ticket))
    return rows[0] if rows else None


def status_update(settings, ticket, old: str, new: str) -> list[Outbox]:
    """Tell the client of a status change an agent made when `outgoing.status_updates` lists it:
    pending (waiting on you), resolved (with how to reopen), closed, reopened."""
    change = "reopened" if new == "open" and old in ("resolved", "closed") else new
    if change not in settings.outgoing.status_updates:
        return []
    return mail_client(settings, ticket, "status_update", change,
                       reopen_days=settings.tickets.reopen_closed_within_days)


WEEKDAYS_ZH = "一二三四五六日"


def client_language(customer, mailbox) -> str:
    """The customer's language (set, or seen in their first mail), else the mailbox's."""
    return customer.language if customer.language in ("en", "zh") else mailbox.language


def expected_answer(settings, ticket) -> str:
    """When the first answer is due, in the policy calendar's time zone and the mailbox's
    language ("Thursday 3 December 2026, 10:00 (Asia/Shanghai)"); "" without a target."""
    from zoneinfo import ZoneInfo

    if ticket.first_response_due is None:
        return ""
    policy = next(p for p in settings.policies if p.name == ticket.sla_policy)  # as just computed
    zone = next(c.timezone for c in settings.calendars if c.name == policy.calendar)
    local = ticket.first_response_due.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone))
    if client_language(ticket.customer, ticket.mailbox) == "zh":
        weekday = WEEKDAYS_ZH[local.weekday()]
        return f"{local.year}年{local.month}月{local.day}日（星期{weekday}）{local:%H:%M}（{zone} 时间）"
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone})"


# The reply-above-this-line marker (Zendesk, osTicket): the agent's answer is what stands above
# it, whatever their mail client does with quotes.
MARKER = "##- Please type your reply above this line · 请在此行以上回复 -##"
MARKER_WORDS = ("reply above this line", "请在此行以上回复")


def notify_staff(settings, ticket, message, *, event: str, author: str, outsider: bool = False) -> list[Outbox]:
    """Tell the ticket's assignee (else the mailbox's team, else every active agent) about a new
    ticket or a client's message, except whoever wrote it. Reply-To is each agent's own signed
    token address, so their answer comes back as theirs; the notice's Message-ID is stored, so
    the headers thread it too. An agent who turned notices off gets none, and can still reply."""
    mailbox, customer = ticket.mailbox, ticket.customer
    configured = settings.mailbox_for(mailbox.address)
    agents = _recipients(ticket, configured.team if configured else ())
    rows = []
    for agent in agents:
        if agent.email == author:
            continue
        note_address = reply_address(ticket, tokens.agent_token(settings.signing_key, agent.id, ticket.id, note=True))
        subject, body, _ = compose.render("notice", mailbox.language, ticket=ticket, customer=customer,
                                       mailbox=mailbox, marker=MARKER, event=event, author=author,
                                       outsider=outsider, text=(message.reply_text or message.text)[:20_000],
                                       link=f"{admin_url(settings)}/tickets/{ticket.number}",
                                       note_address=note_address, when=staff_clock(settings, ticket, agent))
        message_id = compose.new_message_id(message_id_domain(settings))
        token = tokens.agent_token(settings.signing_key, agent.id, ticket.id)
        raw = compose.build(sender_name=mailbox.name, sender=mailbox.address, to=agent.email, subject=subject,
                            text=body, message_id=message_id, in_reply_to=message.message_id,
                            references=tuple(message.references.split()), reply_to=reply_address(ticket, token),
                            automatic=True, auto_submitted="auto-generated")
        rows += outbox.queue(ticket=ticket, kind="notice", mail_from=mailbox.address, recipients=[agent.email],
                             raw=raw, message_id=message_id)
    return rows


def mail_agents(settings, ticket, agents, template: str, outbox_kind: str, **context) -> list[dict]:
    """Outbox rows (dicts, for outbox.queue_many) of one staff mail to each agent, in the
    mailbox's language, each with their own Reply-To token so their answer is theirs."""
    mailbox = ticket.mailbox
    rows = []
    for agent in agents:
        subject, body, _ = compose.render(template, mailbox.language, ticket=ticket,
                                          when=staff_clock(settings, ticket, agent),
                                          link=f"{admin_url(settings)}/tickets/{ticket.number}", **context)
        message_id = compose.new_message_id(message_id_domain(settings))
        token = tokens.agent_token(settings.signing_key, agent.id, ticket.id)
        raw = compose.build(sender_name=mailbox.name, sender=mailbox.address, to=agent.email, subject=subject,
                            text=body, message_id=message_id, reply_to=reply_address(ticket, token), automatic=True,
                            auto_submitted="auto-generated")
        rows.append({"ticket": ticket, "kind": outbox_kind, "mail_from": mailbox.address, "rcpt_to": agent.email,
                     "raw": raw, "message_id": message_id})
    return rows


def tell_agent_not_applied(settings, ticket, agent, errors: list[str], in_reply_to: str) -> list[Outbox]:
    """A short reply to the agent, in the mailbox's language: what in their mail was wrong;
    nothing was applied. Its Reply-To is their own signed address for the ticket, like a
    notice's, so answering it with the mail corrected is their answer again."""
    mailbox = ticket.mailbox
    subject, body, _ = compose.render("command_error", mailbox.language, ticket=ticket,
                                      errors=[reasons.said(error, mailbox.language) for error in errors])
    message_id = compose.new_message_id(message_id_domain(settings))
    token = tokens.agent_token(settings.signing_key, agent.id, ticket.id)
    raw = compose.build(sender_name=mailbox.name, sender=mailbox.address, to=agent.email, subject=subject,
                        text=body, message_id=message_id, in_reply_to=in_reply_to,
                        reply_to=reply_address(ticket, token), automatic=True, auto_submitted="auto-replied")
    return outbox.queue(ticket=ticket, kind="command_error", mail_from=mailbox.address, recipients=[agent.email],
                        raw=raw, message_id=message_id)


def staff_clock(settings, ticket, agent):
    """How a staff mail writes a time (stored as naive UTC) for this agent: in their own time
    zone (their profile's), else in that of the calendar the ticket's SLA clocks count in, named,
    with its abbreviation (EST or EDT: the hour a clock goes back comes twice)."""
    zone = agent.timezone or _calendar_zone(settings, ticket)
    try:
        place = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", a folder of tzdata's
        zone, place = "UTC", dt.UTC

    def when(moment: dt.datetime) -> str:
        local = moment.replace(tzinfo=dt.UTC).astimezone(place)
        return f"{local:%Y-%m-%d %H:%M} ({zone})" if zone == "UTC" else f"{local:%Y-%m-%d %H:%M %Z} ({zone})"
    return when


def _calendar_zone(settings, ticket) -> str:
    from .sla import policy_of  # here: sla sends its alerts through this module

    policy = policy_of(settings, ticket)
    calendar = next((c for c in settings.calendars if policy is not None and c.name == policy.calendar), None)
    return calendar.timezone if calendar is not None else "UTC"


def admin_url(settings) -> str:
    return settings.web.base_url.rstrip("/") or f"http://{settings.web.host}:{settings.web.port}"


def team_of(settings, ticket) -> list[Agent]:
    """The mailbox's team (config), else every active agent."""
    configured = settings.mailbox_for(ticket.mailbox.address)
    team = configured.team if configured else ()
    active = Agent.active == True  # noqa: E712
    if team:
        return list(Agent.select().where(active & Agent.email.in_([a.lower() for a in team])))
    return list(Agent.select().where(active).order_by(Agent.id))


def _recipients(ticket, team: tuple[str, ...]) -> list[Agent]:
    """Who is told of a client's mail: written as SQL, since it runs for every mail that comes in."""
    p, wanted = db.param, "active AND notices"
    if ticket.assignee_id:
        return _agents(f"{wanted} AND id = {p}", (ticket.assignee_id,))
    if team:
        return _agents(f"{wanted} AND email IN ({', '.join([p] * len(team))})", tuple(a.lower() for a in team))
    return _agents(wanted, ())


def _agents(condition: str, params: tuple) -> list[Agent]:
    return [statements.instance_of(Agent, row) for row in db.execute_sql(
        f"SELECT {statements.columns(Agent)} FROM agent WHERE {condition} ORDER BY id", params)]
