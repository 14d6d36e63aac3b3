"""The dashboard's figures over a date range: read-only queries, each a table (title, columns,
rows) that the page draws and exports as CSV. Times are wall-clock hours (what a client waits);
the SLA clocks' business time is on each ticket."""

from __future__ import annotations

import datetime as dt
import functools
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from peewee import fn

from .tables import Agent, Customer, Event, Message, SlaMark, Survey, Ticket

OPEN = ("new", "open", "pending")
AGES = (("< 1 day", 1), ("1–3 days", 3), ("3–7 days", 7), ("1–4 weeks", 28), ("older", None))
WAITS = (("< 1 h", 1), ("1–4 h", 4), ("4–8 h", 8), ("8–24 h", 24), ("1–3 days", 72), ("longer", None))


@dataclass
class Table:
    name: str  # for links and CSV file names
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    figures: dict = field(default_factory=dict)  # median, p90 and count of a distribution


def percentile(values: list[float], share: float) -> float | None:
    """The value below which `share` of them lie (nearest rank); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return (end - start).total_seconds() / 3600 if start and end and end >= start else None


def _week(day: dt.datetime) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _round(value: float | None) -> float | str:
    return round(value, 1) if value is not None else ""


def _share(part: int, whole: int) -> float | str:
    return round(100 * part / whole, 1) if whole else ""


def dashboard(since: dt.datetime, until: dt.datetime, now: dt.datetime, only: str = "") -> dict[str, Table]:
    """Every table of the dashboard for tickets created (surveys sent) in [since, until); with
    `only`, just that one (a CSV export), reading only the rows it needs."""
    @functools.cache
    def tickets() -> list[dict]:
        breached = SlaMark.select(SlaMark.ticket).where(SlaMark.mark.startswith("breach"))
        return list(Ticket.select(Ticket.id, Ticket.created_at, Ticket.sla_policy, Ticket.first_responded_at,
                                  Ticket.resolved_at, Ticket.category, Ticket.assignee, Customer.tier,
                                  Ticket.id.in_(breached).alias("breached"))
                    .join(Customer).where((Ticket.created_at >= since) & (Ticket.created_at < until))
                    .dicts().iterator())

    @functools.cache
    def surveys() -> list[dict]:
        return list(Survey.select(Survey.sent_at, Survey.rating, Survey.comment, Survey.agent, Survey.tier,
                                  Survey.responded_at, Survey.ticket)
                    .where((Survey.state == "sent") & (Survey.sent_at >= since) & (Survey.sent_at < until))
                    .dicts().iterator())

    builders = {
        "sla_by_week": lambda: [_sla_by(tickets(), "week", lambda t: _week(t["created_at"]))],
        "sla_by_policy": lambda: [_sla_by(tickets(), "policy", lambda t: t["sla_policy"] or "(none)")],
        "first_response": lambda: [_waits(tickets(), "first_response", "First response", "first_responded_at")],
        "resolution": lambda: [_waits(tickets(), "resolution", "Resolution", "resolved_at")],
        "backlog": lambda: [_backlog(now)],
        "csat": lambda: _satisfaction(surveys()),  # csat_by_week, csat_distribution, csat_comments
        "agents": lambda: [_agents(tickets(), surveys(), since, until)],
        "tiers": lambda: [_tiers(tickets(), surveys())],
        "complaints": lambda: [_complaints(tickets())],
    }
    if only:
        builders = {name: build for name, build in builders.items() if only == name or only.startswith(f"{name}_")}
    return {t.name: t for build in builders.values() for t in build()}


def _sla_by(tickets: list[dict], by: str, key) -> Table:
    groups: dict[str, list[bool]] = defaultdict(list)
    for t in tickets:
        if t["sla_policy"]:
            groups[key(t)].append(bool(t["breached"]))
    table = Table(f"sla_by_{by}", f"SLA compliance by {by}", [by, "tickets", "breached", "compliance %"])
    table.rows = [[name, len(b), sum(b), _share(len(b) - sum(b), len(b))] for name, b in sorted(groups.items())]
    return table


def _waits(tickets: list[dict], name: str, title: str, end: str) -> Table:
    hours = [h for t in tickets if (h := _hours(t["created_at"], t[end])) is not None]
    table = Table(name, f"{title} time", ["wait", "tickets"],
                  figures={"median": _round(percentile(hours, 0.5)), "p90": _round(percentile(hours, 0.9)),
                           "count": len(hours)})
    counts = Counter(next(label for label, limit in WAITS if limit is None or h < limit) for h in hours)
    table.rows = [[label, counts.get(label, 0)] for label, _ in WAITS]
    return table


def _backlog(now: dt.datetime) -> Table:
    """Tickets not resolved now, by status and age (all of them, whatever the range)."""
    counts: Counter = Counter()
    for status, created in Ticket.select(Ticket.status, Ticket.created_at).where(Ticket.status.in_(OPEN)).tuples():
        days = (now - created).total_seconds() / 86400
        counts[status, next(label for label, limit in AGES if limit is None or days < limit)] += 1
    table = Table("backlog", "Backlog by status and age (now)", ["status", *[label for label, _ in AGES], "total"])
    for status in OPEN:
        row = [counts.get((status, label), 0) for label, _ in AGES]
        table.rows.append([status, *row, sum(row)])
    return table


def _satisfaction(surveys: list[dict]) -> list[Table]:
    weekly: dict[str, list[int]] = defaultdict(list)
    sent_weekly: Counter = Counter()
    for s in surveys:
        sent_weekly[_week(s["sent_at"])] += 1
        if s["rating"]:
            weekly[_week(s["sent_at"])].append(s["rating"])
    trend = Table("csat_by_week", "Satisfaction by week", ["week", "surveys", "answers", "average", "CSAT %"])
    trend.rows = [[week, sent_weekly[week], len(weekly[week]),
                   _round(statistics.fmean(weekly[week])) if weekly[week] else "",
                   _share(sum(r >= 4 for r in weekly[week]), len(weekly[week]))] for week in sorted(sent_weekly)]
    ratings = Counter(s["rating"] for s in surveys if s["rating"])
    spread = Table("csat_distribution", "Ratings", ["rating", "answers"])
    spread.rows = [[score, ratings.get(score, 0)] for score in (5, 4, 3, 2, 1)]
    comments = Table("csat_comments", "Recent comments", ["answered", "ticket", "rating", "comment"])
    numbers = dict(Ticket.select(Ticket.id, Ticket.number).where(
        Ticket.id.in_([s["ticket"] for s in surveys if s["comment"]][-200:])).tuples())
    recent = sorted((s for s in surveys if s["comment"]), key=lambda s: s["responded_at"] or s["sent_at"])[-10:]
    comments.rows = [[(s["responded_at"] or s["sent_at"]).strftime("%Y-%m-%d %H:%M"), numbers.get(s["ticket"], ""),
                      s["rating"] or "", s["comment"]] for s in reversed(recent)]
    return [trend, spread, comments]


def _agents(tickets: list[dict], surveys: list[dict], since: dt.datetime, until: dt.datetime) -> Table:
    names = dict(Agent.select(Agent.id, Agent.email).tuples())
    replies = Counter(dict(Message.select(Message.author_agent, fn.COUNT(Message.id))
                           .where((Message.kind == "agent_reply") & (Message.created_at >= since)
                                  & (Message.created_at < until)).group_by(Message.author_agent).tuples()))
    handled, waits = Counter(), defaultdict(list)
    for t in tickets:
        if t["assignee"]:
            handled[t["assignee"]] += 1
            if (h := _hours(t["created_at"], t["first_responded_at"])) is not None:
                waits[t["assignee"]].append(h)
    rated = defaultdict(list)
    for s in surveys:
        if s["agent"] and s["rating"]:
            rated[s["agent"]].append(s["rating"])
    table = Table("agents", "Agents", ["agent", "tickets", "replies", "first response median h", "answers",
                                       "CSAT %"])
    for agent_id in sorted(set(handled) | set(replies) | set(rated), key=lambda a: names.get(a, "")):
        table.rows.append([names.get(agent_id, "?"), handled[agent_id], replies[agent_id],
                           _round(percentile(waits[agent_id], 0.5)), len(rated[agent_id]),
                           _share(sum(r >= 4 for r in rated[agent_id]), len(rated[agent_id]))])
    return table


def _tiers(tickets: list[dict], surveys: list[dict]) -> Table:
    groups = defaultdict(list)
    for t in tickets:
        groups[t["tier"]].append(t)
    rated = defaultdict(list)
    for s in surveys:
        if s["rating"]:
            rated[s["tier"]].append(s["rating"])
    table = Table("tiers", "Service by customer tier", ["tier", "tickets", "compliance %", "first response median h",
                                                        "resolution median h", "CSAT %"])
    for tier, rows in sorted(groups.items()):
        with_policy = [t for t in rows if t["sla_policy"]]
        table.rows.append([
            tier, len(rows), _share(sum(not t["breached"] for t in with_policy), len(with_policy)),
            _round(percentile([h for t in rows if (h := _hours(t["created_at"], t["first_responded_at"]))], 0.5)),
            _round(percentile([h for t in rows if (h := _hours(t["created_at"], t["resolved_at"]))], 0.5)),
            _share(sum(r >= 4 for r in rated[tier]), len(rated[tier]))])
    return table


def _complaints(tickets: list[dict]) -> Table:
    """Complaint tickets by cause: a low rating, a client chasing an answer past its SLA, or filed
    as one from the start (keywords or an agent)."""
    complaints = [t for t in tickets if t["category"] == "complaint"]
    causes = {}
    for ticket_id, detail in Event.select(Event.ticket, Event.detail).where(
            (Event.action == "complaint") & Event.ticket.in_([t["id"] for t in complaints])).tuples():
        causes.setdefault(ticket_id, "low rating" if detail.startswith("rated") else "chased past the SLA")
    groups = defaultdict(list)
    for t in complaints:
        groups[causes.get(t["id"], "filed as a complaint")].append(_hours(t["created_at"], t["resolved_at"]))
    table = Table("complaints", "Complaints by cause", ["cause", "tickets", "resolved", "resolution median h"])
    for cause, hours in sorted(groups.items()):
        done = [h for h in hours if h is not None]
        table.rows.append([cause, len(hours), len(done), _round(percentile(done, 0.5))])
    return table
