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
import hashlib
import json
import logging

from mailer import identity
from models import outbox, statements, tickets
from models.base import db, utcnow
from models.tables import PRIORITIES, Agent, Counter, Customer, Event, Mailbox, SlaMark, Ticket
from servicelevels import clocks as sla_clocks
from servicelevels import policies
from servicelevels.calendar import Calendar

log = logging.getLogger(__name__)
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
    return histories([ticket])[ticket.id]


def histories(found: list[Ticket]) -> dict[int, list[sla_clocks.Happening]]:
    """Each ticket's happenings, from its creation and its events, in one query for them all
    (its SQL built once per number of tickets: it runs for every mail on a ticket)."""
    result = {t.id: [sla_clocks.Happening(t.created_at, "created")] for t in found}
    when = Event.created_at.python_value
    for ticket_id, action, new, detail, created_at, _ in db.execute_sql(
            _history_sql(len(result), db.param), [*result, *result]):
        result[ticket_id].append(_happening(action, new, detail, when(created_at)))
    for row in tickets.held_events():  # recorded by this mail's action, written when it ends
        ticket_id = getattr(row["ticket"], "id", row["ticket"])
        if ticket_id in result and row["action"] in HISTORY[1:]:
            result[ticket_id].append(_happening(row["action"], row["new"], row["detail"], row["created_at"]))
    return result


def _happening(action: str, new: str | None, detail: str, at: dt.datetime) -> sla_clocks.Happening:
    """An event of the history (action, its `new` as stored JSON, detail, created_at) as the clocks see it."""
    if action == "status":  # events from before old/new were data carry it in their detail
        return sla_clocks.Happening(at, "status", json.loads(new) if new else detail.rpartition("→")[2].strip())
    return sla_clocks.Happening(at, "customer" if action == "customer_replied" else "reply")


@functools.lru_cache(maxsize=64)
def _history_sql(tickets: int, p: str) -> str:
    """The happenings that move the clocks, in time order: every reply and status change, and
    of the client's messages only the first after each reply. The clocks start a run on that one;
    those before the first reply, and those after it until the next, change nothing
    (servicelevels/clocks.py). So a monitoring system writing to one ticket every minute does not
    make each of its mails read all the ones before: each of these is an index range
    (event_ticket_id_action_created_at) of the replies and status changes, and one index probe
    per reply."""
    ids = ", ".join([p] * tickets)
    return (f"SELECT ticket_id, action, new, detail, created_at, id FROM event WHERE ticket_id IN ({ids}) "
            "AND action IN ('reply', 'status') "
            "UNION SELECT c.ticket_id, c.action, c.new, c.detail, c.created_at, c.id FROM event AS r "
            "JOIN event AS c ON c.id = (SELECT n.id FROM event AS n WHERE n.ticket_id = r.ticket_id "
            "AND n.action = 'customer_replied' AND (n.created_at, n.id) > (r.created_at, r.id) "
            f"ORDER BY n.created_at, n.id LIMIT 1) WHERE r.ticket_id IN ({ids}) AND r.action = 'reply' "
            "ORDER BY 5, 6")


def clocks_of(settings, ticket: Ticket, now: dt.datetime, *, new: bool = False
              ) -> tuple[object, Calendar, dict[str, sla_clocks.Clock]]:
    """The ticket's policy, its calendar and its clocks at `now` (`new`: the ticket was just
    created, so its history is its creation alone)."""
    policy = policy_of(settings, ticket)
    calendar = calendar_of(settings, policy)
    happened = [sla_clocks.Happening(ticket.created_at, "created")] if new else history(ticket)
    return policy, calendar, sla_clocks.compute(happened, policies.targets(policy), calendar, now)


def recompute(settings, ticket: Ticket, *, at: dt.datetime | None = None, via: str = "system",
              new: bool = False, events: list | None = None, held: dict | None = None, settle: bool = False) -> dict:
    """Bring the ticket's clocks up to date (call inside the action's transaction, after its
    change; `new` for a ticket just opened). Each clock that started, paused, resumed or was met
    is an Event; `events`: the caller's own, written in the same insert; `held`: the caller's
    changed fields of the ticket, written in the same update. `settle`: past mail being
    imported, whose warnings and escalations already due are marked done without a word (no
    alert storm for last year's tickets)."""
    now = at or utcnow()
    policy, calendar, clocks = clocks_of(settings, ticket, now, new=new)
    done = set() if new else None
    if settle:
        past = [(ticket.id, c.name, c.started_at.isoformat(), mark) for c in clocks.values()
                for when, mark in marks(policy, calendar, c) if when <= now]
        _claim(past, now)
        done = {key[1:] for key in past}
    _claim(_met_late(ticket, policy, clocks), now)
    fields, events = _state(ticket, policy, calendar, clocks, done=done, events=events or [])
    tickets.record_many(ticket, [{**e, "actor": SYSTEM, "via": via} for e in events])
    statements.update(Ticket, ticket.id, **(held or {}), **fields)
    return clocks


def _met_late(ticket: Ticket, policy, clocks) -> list[tuple[int, str, str, str]]:
    """The breach marks of clocks met only after their due time, as they become met: a breach
    whether or not the SLA job ran an escalation for it meanwhile (answered a minute after the
    due time, before the job's next look; the job down; a first level an hour after the due
    time), so the reports, the surveys and the complaints count it."""
    late = [c for c in clocks.values() if c.state == "met" and c.breached_at is not None]
    if not late:
        return []
    before = json.loads(ticket.sla_clocks) if ticket.sla_clocks else {}
    mark = "breach-0" if policy.escalations else "breach"  # the first level's own, if the job ran it
    return [(ticket.id, c.name, c.started_at.isoformat(), mark) for c in late
            if before.get(c.name, {}).get("state") != "met"]


def was_breached(ticket: Ticket) -> bool:
    """Did a clock of the ticket pass its due time: breached now, or met late."""
    states = json.loads(ticket.sla_clocks) if ticket.sla_clocks else {}
    return any(isinstance(clock, dict) and clock.get("breached_at") for clock in states.values())


def _state(ticket: Ticket, policy, calendar, clocks, *, done: set | None, events: list) -> tuple[dict, list]:
    """The ticket's SLA fields for `clocks` (also set on `ticket`), and the events of the clocks'
    transitions after `events`. `done`: the marks known done (None: read them)."""
    before = json.loads(ticket.sla_clocks) if ticket.sla_clocks else {}
    events = list(events)
    if before.get("policy") not in (None, policy.name):
        events.append({"action": "sla_policy", "detail": f"{before['policy']} → {policy.name}",
                       "old": before["policy"], "new": policy.name})
    for name, clock in clocks.items():
        old = before.get(name, {}).get("state", "")
        change = _transition(old, clock.state, before.get(name, {}).get("started_at"), clock)
        if change:
            events.append({"action": f"sla_{change}", "detail": f"{name.replace('_', ' ')} {change}",
                           "old": old or None, "new": _as_data(clock)})
    state = {"policy": policy.name, **{name: _as_data(clock) for name, clock in clocks.items()}}
    fields = {"sla_policy": policy.name, "sla_clocks": json.dumps(state, ensure_ascii=False),
              "escalation_level": ticket.escalation_level,
              "sla_state": sla_clocks.worst(clocks),
              "first_response_due": clocks["first_response"].due, "next_response_due": clocks["next_response"].due,
              "resolution_due": clocks["resolution"].due,
              "sla_due": min((c.due for c in clocks.values() if c.state in ("running", "breached") and c.due),
                             default=None),  # what the queues sort and filter by
              "sla_next_check": _next_check(policy, calendar, clocks, done=done)}
    for key, value in fields.items():
        setattr(ticket, key, value)
    return fields, events


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


def awaits_overdue_answer(ticket: Ticket) -> bool:
    """The client is owed an answer past its due time: a response clock breached (as last
    computed), and the ticket not waiting on the client (then they are answering us)."""
    states = json.loads(ticket.sla_clocks) if ticket.sla_clocks else {}
    now = utcnow().isoformat()
    return ticket.status != "pending" and any(
        clock.get("state") == "breached" or (clock.get("state") == "running" and (clock.get("due") or now) < now)
        for clock in (states.get(name, {}) for name in ("first_response", "next_response")))


def complain(settings, ticket: Ticket, why: str, held: dict | None = None) -> None:
    """A complaint: the client chased a breached ticket (or, later, rated it low). With
    `tickets.complaint_category` set, the ticket is filed under it, so the complaint policy and
    queue take it over; the event says why either way. `held`: as for `recompute`, which the
    caller then calls."""
    category = settings.tickets.complaint_category
    events = [{"action": "complaint", "detail": why, "new": {"category": category or None}}]
    if category and ticket.category != category:
        events.append({"action": "category", "detail": f"{ticket.category or 'none'} → {category} ({why})",
                       "old": ticket.category or None, "new": category})
        ticket.category = category
        if held is not None:
            held["category"] = category
        else:
            statements.update(Ticket, ticket.id, category=category)
    tickets.record_many(ticket, [{**e, "actor": SYSTEM, "via": "email"} for e in events])


def marks(policy, calendar, clock: sla_clocks.Clock) -> list[tuple[dt.datetime, str]]:
    """(when, mark) of the warning and each escalation level of a running clock, in time order."""
    return [] if clock.due is None else list(_marks_from(policy, calendar, clock.due))


@functools.lru_cache(maxsize=4096)
def _marks_from(policy, calendar: Calendar, due: dt.datetime) -> tuple[tuple[dt.datetime, str], ...]:
    """The marks of a clock due at `due`: business-time arithmetic that gives the same answer for
    every change of a ticket whose clock keeps its due time, so it is remembered."""
    found = []
    if policy.warning_minutes:
        found.append((calendar.subtract(due, policy.warning_minutes), "warning"))
    for level, escalation in enumerate(policy.escalations):
        found.append((calendar.add(due, escalation.after_minutes), f"breach-{level}"))
    if not policy.escalations:  # still recorded, and the ticket shown as breached
        found.append((due, "breach"))
    return tuple(sorted(found))


def _next_check(policy, calendar, clocks, done=None) -> dt.datetime | None:
    """The earliest mark not known to be done. Outside the SLA job (`done` None) that may be one
    done already: the job then looks once, claims nothing and moves the check on, which costs
    less than reading the marks on every change of every ticket."""
    done = done or set()
    pending = [when for clock in clocks.values() for when, mark in marks(policy, calendar, clock)
               if (clock.name, clock.started_at.isoformat(), mark) not in done]
    return min(pending) if pending else None


def run_due(settings, ticket_ids: list[int], now: dt.datetime | None = None,
            cache: dict | None = None) -> list[int]:
    """Do the warnings and escalation levels of these tickets that are due by `now`, oldest
    first, each once; returns the outbox ids to deliver. One transaction for the batch, a few
    statements for all of it (the reads, the claims, the mail, the events) and one update per
    ticket. A warning whose breach is due too (the job was down, or ran late) is marked done
    without a mail: "due soon" for a time already past is noise. `cache`: teams and the like
    already looked up in this sweep."""
    now = now or utcnow()
    cache = {} if cache is None else cache
    mail, all_events, updates = [], [], []
    with db.atomic():  # SQLite: BEGIN IMMEDIATE (models.base), so what is read below is current
        query = (Ticket.select(Ticket, Customer, Mailbox).join(Customer).switch(Ticket).join(Mailbox)
                 .where(Ticket.id.in_(list(ticket_ids))).order_by(Ticket.sla_next_check, Ticket.id))
        if db.for_update:  # PostgreSQL: a second job waits here for the first to commit, then reads
            query = query.for_update(of=Ticket)  # what it wrote (SQLite's BEGIN IMMEDIATE does so already)
        found = list(query)
        happened = histories(found)
        plans = []
        for ticket in found:
            policy = policy_of(settings, ticket)
            calendar = calendar_of(settings, policy)
            clocks = sla_clocks.compute(happened[ticket.id], policies.targets(policy), calendar, now)
            due = {(clock.name, clock.started_at.isoformat(), mark): when for clock in clocks.values()
                   for when, mark in marks(policy, calendar, clock) if when <= now}
            plans.append((ticket, policy, calendar, clocks, due))
        claimed = _claim([(t.id, *key) for t, _, _, _, due in plans for key in due], now)
        for ticket, policy, calendar, clocks, due in plans:
            mine = sorted((when, key) for key, when in due.items() if (ticket.id, *key) in claimed)
            if not mine and ticket.sla_next_check and ticket.sla_next_check > now:
                continue  # another job did it all while this one waited
            events, changed = [], False
            breached = {name for name, _, mark in due if mark != "warning"}
            for when, (name, _, mark) in mine:
                clock = clocks[name]
                if mark == "warning":
                    if name not in breached:
                        mail += _warn(settings, ticket, clock, when, cache, events)
                    continue
                if mark == "breach":  # a policy without escalation levels: recorded only
                    events.append({"action": "sla_breach", "detail": f"{name.replace('_', ' ')} breached",
                                   "new": {"clock": name, "due": clock.due.isoformat(), "at": when.isoformat()}})
                    continue
                alerts, acted = _escalate(settings, ticket, policy, int(mark.split("-")[1]), clock, when, cache,
                                          events)
                mail += alerts
                changed = changed or acted
            if changed:  # a raised priority or a new assignee: the clocks are read again
                recompute(settings, ticket, at=now, via="worker", events=events)
                continue
            fields, events = _state(ticket, policy, calendar, clocks, done=set(due), events=events)
            if any(mark != "warning" for _, (_, _, mark) in mine):
                fields["updated_at"] = now  # a breach changes the ticket (its queue, its day's figures)
            all_events += [{**e, "ticket": ticket.id, "actor": SYSTEM, "via": "worker"} for e in events]
            updates.append((ticket.id, fields))
        tickets.record_all(all_events)
        for ticket_id, fields in updates:
            Ticket.update(**fields).where(Ticket.id == ticket_id).execute()
        return [row.id for row in outbox.queue_many(mail)]


def _claim(keys: list[tuple[int, str, str, str]], now: dt.datetime) -> set[tuple[int, str, str, str]]:
    """Insert the marks' rows (ticket id, clock, run, mark); the ones this call inserted are its
    to do: each has a unique key, so a mark another job inserted first is not."""
    if not keys:
        return set()
    rows = [{"ticket": t, "clock": c, "run": r, "mark": m, "at": now} for t, c, r, m in keys]
    if db.returning_clause:  # one statement: INSERT … ON CONFLICT DO NOTHING RETURNING, its SQL built once
        return set(db.execute_sql(_claim_sql(len(keys), db.param), [v for key in keys for v in (*key, now)]))
    return {key for key, row in zip(keys, rows, strict=True)
            if SlaMark.insert(**row).on_conflict_ignore().as_rowcount().execute()}


@functools.lru_cache(maxsize=64)
def _claim_sql(marks: int, p: str) -> str:
    values = ", ".join([f"({p}, {p}, {p}, {p}, {p})"] * marks)
    return (f"INSERT INTO sla_mark (ticket_id, clock, run, mark, at) VALUES {values} "
            f"ON CONFLICT DO NOTHING RETURNING ticket_id, clock, run, mark")


def _warn(settings, ticket: Ticket, clock, when: dt.datetime, team_cache, events: list) -> list[dict]:
    what = clock.name.replace("_", " ")
    events.append({"action": "sla_warning", "detail": f"{what} due {clock.due:%Y-%m-%d %H:%M} UTC",
                   "new": {"clock": clock.name, "due": clock.due.isoformat(), "at": when.isoformat()}})
    return _alert(settings, ticket, ["assignee"], "warning", clock, team_cache=team_cache)


def _escalate(settings, ticket: Ticket, policy, level: int, clock, when: dt.datetime,
              team_cache, events: list) -> tuple[list[dict], bool]:
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
        staff.set_priority(ticket, escalation.priority, settings=settings, actor=System(), via="worker")
        acted = True
    target = Agent.get_or_none((Agent.email == escalation.assign.lower()) & (Agent.active == True)) \
        if escalation.assign else None  # noqa: E712
    if target is not None and target.id != ticket.assignee_id:
        staff.assign(ticket, target, actor=System(), via="worker")
        acted = True
    alerts = _alert(settings, ticket, list(escalation.notify), "breach", clock, level=level + 1, team_cache=team_cache)
    return alerts, acted


def _rank(priority: str) -> int:
    return PRIORITIES.index(priority)


class System:
    """The actor of what the SLA job does."""

    email = SYSTEM
    name = "Postdesk"


def _alert(settings, ticket: Ticket, notify: list[str], kind: str, clock, level: int = 0,
           team_cache: dict | None = None) -> list[dict]:
    """The outbox rows of a mail to the agents an escalation names: "assignee" (else the team),
    "team", addresses."""
    from . import notices

    team_cache = {} if team_cache is None else team_cache
    agents: dict[int, Agent] = {}
    for who in notify:
        if who == "assignee" and ticket.assignee_id and ticket.assignee.active:
            found = [ticket.assignee]
        elif who in ("assignee", "team"):
            if ticket.mailbox_id not in team_cache:
                team_cache[ticket.mailbox_id] = notices.team_of(settings, ticket)
            found = team_cache[ticket.mailbox_id]
        else:  # a login's address, or another address of one (create-agent --also)
            named = identity.find_agent(who)
            found = [named] if named is not None else []
            if named is None:
                log.warning("ticket #%s: the %s alert names %s, who has no active login: not mailed",
                            ticket.number, kind, who)
        agents.update({a.id: a for a in found if a.active})
    return notices.mail_agents(settings, ticket, list(agents.values()), "sla_alert", f"sla_{kind}", kind=kind,
                               clock=clock, level=level)


def follow_configuration(settings, limit: int = 1000) -> int:
    """After the policies or calendars changed (config.toml, then a restart), bring the clocks of
    every ticket not closed to them: a shorter target must not wait for each ticket's next mail to
    count. Run by the SLA job, `limit` tickets a run, on from where the last run stopped; the
    digest of what the tickets follow and that place are kept as counters. The first run of an
    installation only notes the digest. Returns how many tickets were recomputed."""
    digest = int(hashlib.sha256(repr((settings.policies, settings.calendars)).encode()).hexdigest()[:15], 16)
    stored = {c.name: c.value for c in Counter.select().where(Counter.name.in_(FOLLOWING))}
    if stored.get(FOLLOWING[0]) != digest:
        start = 1 if FOLLOWING[0] in stored else 0  # an installation's first run: nothing changed
        stored = {FOLLOWING[0]: digest, FOLLOWING[1]: start}
        _set_counters(stored)
    after = stored.get(FOLLOWING[1], 0)
    if not after:
        return 0
    ids = [t for t, in Ticket.select(Ticket.id).where((Ticket.id >= after) & (Ticket.status != "closed"))
           .order_by(Ticket.id).limit(limit).tuples()]
    for ticket_id in ids:
        with db.atomic():
            recompute(settings, Ticket.get_by_id(ticket_id), via="system")
    _set_counters({FOLLOWING[1]: ids[-1] + 1 if len(ids) == limit else 0})
    if ids:
        log.info("SLA: %d tickets' clocks recomputed for the changed policies or calendars", len(ids))
    return len(ids)


FOLLOWING = ("sla_configuration", "sla_recompute_from")  # the counters follow_configuration keeps


def _set_counters(values: dict[str, int]) -> None:
    with db.atomic():
        for name, value in values.items():
            Counter.insert(name=name, value=value).on_conflict(
                conflict_target=[Counter.name], update={Counter.value: value}).execute()


def due_tickets(now: dt.datetime, limit: int = 500):
    """The tickets whose next warning or escalation is due (their ids; `run_due` reads each
    afresh in its transaction): an indexed range query."""
    return (Ticket.select(Ticket.id, Ticket.number).where(Ticket.sla_next_check <= now)
            .order_by(Ticket.sla_next_check, Ticket.id).limit(limit))
