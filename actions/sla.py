"""The SLA clocks move here: recomputed from the ticket's history after every change that can
move them, and the warnings and escalation levels that fall due, each done exactly once.

The due times, the worst state and the next moment the SLA job must look (`sla_next_check`,
indexed) live on the ticket, so "what is about to breach" is one indexed query. A warning or a
level is claimed by inserting its unique `SlaMark` row in the transaction that does it: a second
job, an overlapping one or one catching up after an outage finds the row and does nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import json

from mailer import compose, tokens
from mailer.notify import message_id_domain, reply_address
from models import outbox, tickets
from models.base import db, utcnow
from models.tables import Agent, Customer, Event, Mailbox, SlaMark, Ticket
from servicelevels import clocks as sla_clocks
from servicelevels import policies
from servicelevels.calendar import Calendar

HISTORY = ("created", "customer_replied", "reply", "status")
SYSTEM = "postdesk"


@functools.lru_cache(maxsize=64)
def calendar_for(configured) -> Calendar:
    return Calendar.from_config(configured)


def policy_of(settings, ticket: Ticket):
    return policies.choose(settings.policies, tier=ticket.customer.tier, priority=ticket.priority,
                           category=ticket.category, mailbox=ticket.mailbox.address)


def calendar_of(settings, policy) -> Calendar:
    return calendar_for(next(c for c in settings.calendars if c.name == policy.calendar))


def history(ticket: Ticket) -> list[sla_clocks.Happening]:
    found = [sla_clocks.Happening(ticket.created_at, "created")]
    for event in (Event.select(Event.action, Event.new, Event.created_at)
                  .where((Event.ticket == ticket) & Event.action.in_(HISTORY[1:]))
                  .order_by(Event.created_at, Event.id)):
        if event.action == "status":
            found.append(sla_clocks.Happening(event.created_at, "status", json.loads(event.new)))
        else:
            found.append(sla_clocks.Happening(event.created_at, "customer" if event.action == "customer_replied"
                                              else "reply"))
    return found


def clocks_of(settings, ticket: Ticket, now: dt.datetime, *, new: bool = False
              ) -> tuple[object, Calendar, dict[str, sla_clocks.Clock]]:
    """The ticket's policy, its calendar and its clocks at `now` (`new`: the ticket was just
    created, so its history is its creation alone)."""
    policy = policy_of(settings, ticket)
    calendar = calendar_of(settings, policy)
    happened = [sla_clocks.Happening(ticket.created_at, "created")] if new else history(ticket)
    return policy, calendar, sla_clocks.compute(happened, policies.targets(policy), calendar, now)


def recompute(settings, ticket: Ticket, *, at: dt.datetime | None = None, via: str = "system",
              new: bool = False, known=None, done: set | None = None, events: list | None = None) -> dict:
    """Bring the ticket's clocks up to date (call inside the action's transaction, after its
    change; `new` for a ticket just opened). Each clock that started, paused, resumed or was met
    is an Event. `known`: (policy, calendar, clocks) the caller computed at `at` with nothing
    changed since, and `done` the marks it knows, to spare reading them again; `events`: the
    caller's own, written in the same insert."""
    now = at or utcnow()
    policy, calendar, clocks = known or clocks_of(settings, ticket, now, new=new)
    before = json.loads(ticket.sla_clocks) if ticket.sla_clocks else {}
    events = list(events or [])
    if before.get("policy") not in (None, policy.name):
        events.append({"action": "sla_policy", "detail": f"{before['policy']} → {policy.name}",
                       "old": before["policy"], "new": policy.name})
    for name, clock in clocks.items():
        old = before.get(name, {}).get("state", "")
        change = _transition(old, clock.state, before.get(name, {}).get("started_at"), clock)
        if change:
            events.append({"action": f"sla_{change}", "detail": f"{name.replace('_', ' ')} {change}",
                           "old": old or None, "new": _as_data(clock)})
    tickets.record_many(ticket, [{**e, "actor": SYSTEM, "via": via} for e in events])
    state = {"policy": policy.name, **{name: _as_data(clock) for name, clock in clocks.items()}}
    fields = {"sla_policy": policy.name, "sla_clocks": json.dumps(state, ensure_ascii=False),
              "escalation_level": ticket.escalation_level,
              "sla_state": sla_clocks.worst(clocks),
              "first_response_due": clocks["first_response"].due, "next_response_due": clocks["next_response"].due,
              "resolution_due": clocks["resolution"].due,
              "sla_next_check": _next_check(ticket, policy, calendar, clocks, done=set() if new else done)}
    Ticket.update(**fields).where(Ticket.id == ticket.id).execute()
    for key, value in fields.items():
        setattr(ticket, key, value)
    return clocks


def _transition(old: str, new: str, old_run, clock) -> str:
    if clock.started_at is not None and old_run not in (None, clock.started_at.isoformat()):
        return "started"  # a new run of the next-response clock
    if new == old or not new:
        return ""
    if not old:
        return "started" if new in ("running", "breached") else ("paused" if new == "paused" else "")
    if new == "met":
        return "met"
    if new == "paused":
        return "paused"
    if old in ("paused", "met") and new in ("running", "breached"):
        return "resumed"
    return ""


def _as_data(clock: sla_clocks.Clock) -> dict:
    def iso(value):
        return value.isoformat() if value else None
    return {"state": clock.state, "target": clock.target, "used": round(clock.used, 1),
            "started_at": iso(clock.started_at), "due": iso(clock.due), "met_at": iso(clock.met_at),
            "breached_at": iso(clock.breached_at)}


def complain(settings, ticket: Ticket, why: str) -> None:
    """A complaint: the client chased a breached ticket (or, later, rated it low). With
    `tickets.complaint_category` set, the ticket is filed under it, so the complaint policy and
    queue take it over; the event says why either way."""
    category = settings.tickets.complaint_category
    tickets.record(ticket, "complaint", why, actor=SYSTEM, via="email", new={"category": category or None})
    if category and ticket.category != category:
        tickets.record(ticket, "category", f"{ticket.category or 'none'} → {category} ({why})", actor=SYSTEM,
                       via="email", old=ticket.category or None, new=category)
        Ticket.update(category=category).where(Ticket.id == ticket.id).execute()
        ticket.category = category


def marks(policy, calendar, clock: sla_clocks.Clock) -> list[tuple[dt.datetime, str]]:
    """(when, mark) of the warning and each escalation level of a running clock, in time order."""
    if clock.due is None:
        return []
    found = []
    if policy.warning_minutes:
        found.append((calendar.subtract(clock.due, policy.warning_minutes), "warning"))
    for level, escalation in enumerate(policy.escalations):
        found.append((calendar.add(clock.due, escalation.after_minutes), f"breach-{level}"))
    return sorted(found)


def _done(ticket: Ticket) -> set[tuple[str, str, str]]:
    return {(m.clock, m.run, m.mark) for m in SlaMark.select().where(SlaMark.ticket == ticket)}


def _next_check(ticket, policy, calendar, clocks, done=None) -> dt.datetime | None:
    done = _done(ticket) if done is None else done
    pending = [when for clock in clocks.values() for when, mark in marks(policy, calendar, clock)
               if (clock.name, clock.started_at.isoformat(), mark) not in done]
    return min(pending) if pending else None


def run_due(settings, ticket: Ticket, now: dt.datetime | None = None, team_cache: dict | None = None) -> list[int]:
    """Do the warnings and escalation levels of the ticket that are due by `now`, oldest first,
    each once; returns the outbox ids to deliver. A warning whose breach is due too (the job was
    down, or ran late) is marked done without a mail: "due soon" for a time already past is noise.
    `team_cache`: the teams already looked up in this sweep, by mailbox."""
    now = now or utcnow()
    queued, changed, events = [], False, []
    with db.atomic():  # SQLite: BEGIN IMMEDIATE (models.base), so what is read below is current
        ticket = (Ticket.select(Ticket, Customer, Mailbox).join(Customer).switch(Ticket).join(Mailbox)
                  .where(Ticket.id == ticket.id).get())  # as it is now, not as the due query saw it
        policy, calendar, clocks = clocks_of(settings, ticket, now)
        due = sorted((when, mark, clock.name) for clock in clocks.values()
                     for when, mark in marks(policy, calendar, clock) if when <= now)
        breached = {name for _, mark, name in due if mark != "warning"}
        keys = {(name, clocks[name].started_at.isoformat(), mark): when for when, mark, name in due}
        claimed = _claim(ticket, list(keys), now)  # every due mark is done after this, here or before
        for (name, _, mark), when in sorted(keys.items(), key=lambda item: item[1]):
            if (name, _, mark) not in claimed:
                continue
            clock = clocks[name]
            if mark == "warning":
                if name not in breached:
                    queued += _warn(settings, ticket, clock, when, team_cache, events)
                continue
            alerts, acted = _escalate(settings, ticket, policy, int(mark.split("-")[1]), clock, when, team_cache,
                                      events)
            queued += alerts
            changed = changed or acted
        if not claimed and ticket.sla_next_check and ticket.sla_next_check > now:
            return queued  # another job did it all while this one waited
        # A raised priority or a new assignee changed the clocks; else what was read stands.
        recompute(settings, ticket, at=now, via="worker", known=None if changed else (policy, calendar, clocks),
                  done=None if changed else set(keys), events=events)
    return queued


def _claim(ticket: Ticket, keys: list[tuple[str, str, str]], now: dt.datetime) -> set[tuple[str, str, str]]:
    """Insert the marks' rows; the ones this call inserted are its to do (a unique key each)."""
    if not keys:
        return set()
    rows = [{"ticket": ticket, "clock": c, "run": r, "mark": m, "at": now} for c, r, m in keys]
    if db.returning_clause:  # one statement: INSERT … ON CONFLICT DO NOTHING RETURNING
        query = SlaMark.insert_many(rows).on_conflict_ignore().returning(SlaMark.clock, SlaMark.run, SlaMark.mark)
        return set(query.tuples().execute())
    return {key for key, row in zip(keys, rows, strict=True)
            if SlaMark.insert(**row).on_conflict_ignore().as_rowcount().execute()}


def _warn(settings, ticket: Ticket, clock, when: dt.datetime, team_cache, events: list) -> list[int]:
    what = clock.name.replace("_", " ")
    events.append({"action": "sla_warning", "detail": f"{what} due {clock.due:%Y-%m-%d %H:%M} UTC",
                   "new": {"clock": clock.name, "due": clock.due.isoformat(), "at": when.isoformat()}})
    return _alert(settings, ticket, ["assignee"], "warning", clock, team_cache=team_cache)


def _escalate(settings, ticket: Ticket, policy, level: int, clock, when: dt.datetime,
              team_cache, events: list) -> tuple[list[int], bool]:
    """One escalation level of a breached clock: recorded, then its actions. Returns the alerts
    queued and whether the priority or assignee changed."""
    from . import tickets as staff  # the staff verbs raise the priority and assign

    escalation = policy.escalations[level]
    events.append({"action": "sla_breach", "detail": f"{clock.name.replace('_', ' ')} breached: escalation level "
                   f"{level + 1}", "new": {"clock": clock.name, "due": clock.due.isoformat(), "level": level + 1,
                                           "at": when.isoformat()}})
    ticket.escalation_level = max(ticket.escalation_level, level + 1)  # written by the recompute that follows
    acted = False
    if escalation.priority and _rank(escalation.priority) > _rank(ticket.priority):
        staff.set_priority(ticket, escalation.priority, settings=settings, actor=_System(), via="worker")
        acted = True
    target = Agent.get_or_none((Agent.email == escalation.assign.lower()) & (Agent.active == True)) \
        if escalation.assign else None  # noqa: E712
    if target is not None and target.id != ticket.assignee_id:
        staff.assign(ticket, target, actor=_System(), via="worker")
        acted = True
    alerts = _alert(settings, ticket, list(escalation.notify), "breach", clock, level=level + 1, team_cache=team_cache)
    return alerts, acted


def _rank(priority: str) -> int:
    from .tickets import PRIORITIES

    return PRIORITIES.index(priority)


class _System:
    """The actor of what the SLA job does."""

    email = SYSTEM
    name = "Postdesk"


def _alert(settings, ticket: Ticket, notify: list[str], kind: str, clock, level: int = 0,
           team_cache: dict | None = None) -> list[int]:
    """Mail the agents an escalation names: "assignee" (else the team), "team", addresses."""
    from . import notices

    team_cache = {} if team_cache is None else team_cache
    agents: dict[int, Agent] = {}
    for who in notify:
        if who == "assignee" and ticket.assignee_id:
            found = [ticket.assignee]
        elif who in ("assignee", "team"):
            if ticket.mailbox_id not in team_cache:
                team_cache[ticket.mailbox_id] = notices.team_of(settings, ticket)
            found = team_cache[ticket.mailbox_id]
        else:
            found = list(Agent.select().where((Agent.email == who.lower()) & (Agent.active == True)))  # noqa: E712
        agents.update({a.id: a for a in found if a.active})
    mailbox = ticket.mailbox
    subject, body = compose.render("sla_alert", mailbox.language, ticket=ticket, kind=kind, clock=clock,
                                   level=level, link=f"{notices.admin_url(settings)}/tickets/{ticket.number}")
    rows = []
    for agent in agents.values():  # each their own Reply-To token, so their answer is theirs
        message_id = compose.new_message_id(message_id_domain(settings))
        token = tokens.agent_token(settings.signing_key, agent.id, ticket.id)
        raw = compose.build(sender_name=mailbox.name, sender=mailbox.address, to=agent.email, subject=subject,
                            text=body, message_id=message_id, reply_to=reply_address(ticket, token), automatic=True,
                            auto_submitted="auto-generated")
        rows.append({"ticket": ticket, "kind": f"sla_{kind}", "mail_from": mailbox.address, "rcpt_to": agent.email,
                     "raw": raw, "message_id": message_id})
    return [row.id for row in outbox.queue_many(rows)]


def due_tickets(now: dt.datetime, limit: int = 500):
    """The tickets whose next warning or escalation is due (their ids; `run_due` reads each
    afresh in its transaction): an indexed range query."""
    return (Ticket.select(Ticket.id, Ticket.number).where(Ticket.sla_next_check <= now)
            .order_by(Ticket.sla_next_check, Ticket.id).limit(limit))
