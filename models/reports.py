"""The dashboard's figures over a date range: read-only queries, each a table (title, columns,
rows) that the page draws and exports as CSV. Times are wall-clock hours (what a client waits);
the SLA clocks' business time is on each ticket.

What is counted per ticket (SLA compliance, response and resolution times, by policy, tier,
agent and complaint cause) and agents' replies are summed per day (UTC) into `report_day` rows,
so a 90-day dashboard reads 90 days of sums, not a quarter of a million tickets. `refresh` sums
again the days whose tickets changed (their last update) or got replies since it last ran; the
followups job runs it every minute and the dashboard before it reads. A ticket counts under its
customer's tier when its day was last summed (`postdesk reports rebuild` sums every day again).
Waits are kept as histograms with buckets 2% apart, so a median or 90th percentile is within 1%
of the exact one. The backlog and the surveys are read as they are.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from peewee import SQL, fn

from .base import db, utcnow
from .tables import Agent, Customer, Event, Message, ReportDay, SlaMark, Survey, Ticket

OPEN = ("new", "open", "pending")
AGES = (("< 1 day", 1), ("1–3 days", 3), ("3–7 days", 7), ("1–4 weeks", 28), ("older", None))
WAITS = (("< 1 h", 1), ("1–4 h", 4), ("4–8 h", 8), ("8–24 h", 24), ("1–3 days", 72), ("longer", None))
STEP = 1.02  # each histogram bucket 2% wider than the one before


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


@dataclass
class Spread:
    """Waits in hours as a histogram: bucket b > 0 holds [STEP^(b-1), STEP^b) minutes, bucket 0
    under a minute; and the coarse WAITS counts, exact."""
    buckets: dict = field(default_factory=dict)
    waits: list[int] = field(default_factory=lambda: [0] * len(WAITS))

    def add(self, hours: float) -> None:
        minutes = hours * 60
        bucket = 0 if minutes < 1 else 1 + int(math.log(minutes) / math.log(STEP))
        self.buckets[bucket] = self.buckets.get(bucket, 0) + 1
        self.waits[next(i for i, (_, limit) in enumerate(WAITS) if limit is None or hours < limit)] += 1

    def merge(self, stored: str) -> None:
        data = json.loads(stored)
        buckets = self.buckets
        for bucket, n in data["b"].items():  # a dashboard merges a few thousand of these: kept plain
            buckets[bucket] = buckets.get(bucket, 0) + n
        self.waits = [a + b for a, b in zip(self.waits, data["w"], strict=True)]

    def dumps(self) -> str:
        return json.dumps({"b": dict(self.buckets), "w": self.waits}, separators=(",", ":"))

    @property
    def count(self) -> int:
        return sum(self.waits)

    def percentile(self, share: float) -> float | None:
        """As `percentile` (nearest rank), the bucket's middle (geometric) standing for its waits."""
        rank, seen = max(1, math.ceil(share * self.count)), 0
        for bucket, n in sorted((int(b), n) for b, n in self.buckets.items()):  # merged ones have text keys
            seen += n
            if seen >= rank:
                return 0.0 if bucket == 0 else STEP ** (bucket - 0.5) / 60
        return None


def _hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return (end - start).total_seconds() / 3600 if start and end and end >= start else None


def _week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _round(value: float | None) -> float | str:
    return round(value, 1) if value is not None else ""


def _share(part: int, whole: int) -> float | str:
    return round(100 * part / whole, 1) if whole else ""


@dataclass
class Group:
    """What the tickets of one group (all, a policy, a tier, an agent, a complaint cause) add up to;
    the waits as stored histograms, merged only when asked for."""
    tickets: int = 0
    with_policy: int = 0
    breached: int = 0
    first_responses: list[str] = field(default_factory=list)
    resolutions: list[str] = field(default_factory=list)

    @functools.cached_property
    def first_response(self) -> Spread:
        return _merged(self.first_responses)

    @functools.cached_property
    def resolution(self) -> Spread:
        return _merged(self.resolutions)


def _merged(stored: list[str]) -> Spread:
    spread = Spread()
    for text in stored:
        spread.merge(text)
    return spread


# The day's groups: what its tickets add up to, and the replies agents wrote that day.
DAY = ("day", "")  # written with every summed day, empty or not: the day is summed
WATERMARK = dt.date(1970, 1, 1)  # the row of that day holds when the last refresh began
MARGIN = dt.timedelta(minutes=5)  # changes committed late, or by a process whose clock is behind


def sum_day(day: dt.date) -> list[dict]:
    """The report_day rows of `day` (UTC): its tickets' groups, from the tickets themselves, and
    the replies agents wrote that day."""
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1)
    breached = fn.EXISTS(SlaMark.select(SQL("1")).where((SlaMark.ticket == Ticket.id)
                                                        & SlaMark.mark.startswith("breach")))
    that_day = (Ticket.created_at >= start) & (Ticket.created_at < end)
    causes: dict[int, str] = {}
    for ticket_id, detail in Event.select(Event.ticket, Event.detail).join(Ticket).where(
            that_day & (Ticket.category == "complaint") & (Event.action == "complaint")).order_by(Event.id).tuples():
        causes.setdefault(ticket_id, "low rating" if detail.startswith("rated") else "chased past the SLA")
    # Streamed, not listed: a day may hold tens of thousands of tickets.
    tickets = Ticket.select(Ticket.id, Ticket.created_at, Ticket.sla_policy, Ticket.first_responded_at,
                            Ticket.resolved_at, Ticket.category, Ticket.assignee, Customer.tier,
                            breached.alias("breached")).join(Customer).where(that_day).tuples().iterator()
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    waits: dict[tuple[str, str], tuple[Spread, Spread]] = defaultdict(lambda: (Spread(), Spread()))
    for ticket_id, created, policy, responded, resolved, category, assignee, tier, was_breached in tickets:
        keys = [("all", ""), ("policy", policy or "(none)"), ("tier", tier)]
        if assignee:
            keys.append(("agent", str(assignee)))
        if category == "complaint":
            keys.append(("cause", causes.get(ticket_id, "filed as a complaint")))
        first, done = _hours(created, responded), _hours(created, resolved)
        for key in keys:
            figures, (first_spread, done_spread) = counts[key], waits[key]
            figures[0] += 1
            if policy:
                figures[1] += 1
                figures[2] += bool(was_breached)
            if first is not None:
                first_spread.add(first)
            if done is not None:
                done_spread.add(done)
    rows = [{"day": day, "dimension": dimension, "key": key, "tickets": n, "with_policy": with_policy,
             "breached": breached_, "first_response": waits[dimension, key][0].dumps(),
             "resolution": waits[dimension, key][1].dumps()}
            for (dimension, key), (n, with_policy, breached_) in counts.items()]
    replies = Message.select(Message.author_agent, fn.COUNT(SQL("*"))).where(
        (Message.kind == "agent_reply") & (Message.created_at >= start) & (Message.created_at < end)) \
        .group_by(Message.author_agent).tuples()
    rows += [{"day": day, "dimension": "replies", "key": str(agent_id), "tickets": n}
             for agent_id, n in replies if agent_id]
    return [*rows, {"day": day, "dimension": DAY[0], "key": DAY[1]}]


def refresh(first: dt.date | None = None, last: dt.date | None = None) -> list[dt.date]:
    """Sum again every day whose tickets changed, or that got agents' replies, since the last
    refresh began (less MARGIN), and the days in [first, last] never summed; returns them."""
    now = utcnow()
    day = fn.DATE(Ticket.created_at)  # a date, a datetime or text, by database: compared by their first 10 characters
    previous = ReportDay.get_or_none((ReportDay.day == WATERMARK) & (ReportDay.dimension == "watermark"))
    stale: set[str] = set()
    if previous is not None:
        since = dt.datetime.fromisoformat(previous.key) - MARGIN
        stale |= {str(d)[:10] for d, in Ticket.select(day).where(Ticket.updated_at > since).distinct().tuples()}
        stale |= {str(d)[:10] for d, in Message.select(fn.DATE(Message.created_at)).where(
            (Message.kind == "agent_reply") & (Message.created_at > since)).distinct().tuples()}
    if first is not None and last is not None:
        summed = {str(d)[:10] for d, in ReportDay.select(ReportDay.day).where(
            (ReportDay.day >= first) & (ReportDay.day <= last) & (ReportDay.dimension == DAY[0])).tuples()}
        stale |= {str(first + dt.timedelta(days=n)) for n in range((last - first).days + 1)} - summed
    days = sorted(dt.date.fromisoformat(text) for text in stale)
    for stale_day in days:
        rows = sum_day(stale_day)
        with db.atomic():
            ReportDay.delete().where(ReportDay.day == stale_day).execute()
            ReportDay.insert_many(rows).execute()
    with db.atomic():
        ReportDay.delete().where((ReportDay.day == WATERMARK) & (ReportDay.dimension == "watermark")).execute()
        ReportDay.create(day=WATERMARK, dimension="watermark", key=now.isoformat())
    return days


def rebuild() -> int:
    """Sum every day again, from the first ticket's to today (after a change of tiers, say);
    returns the days summed."""
    oldest = Ticket.select(fn.MIN(Ticket.created_at)).scalar()
    ReportDay.delete().execute()
    if oldest is None:
        return 0
    oldest = oldest if isinstance(oldest, dt.datetime) else dt.datetime.fromisoformat(str(oldest))
    return len(refresh(oldest.date(), utcnow().date()))


def _summed(first: dt.date, last: dt.date) -> tuple[dict[tuple[str, str], Group], dict[dt.date, Group]]:
    """The range's groups, added up over its days; and the ("all", "") group of each day."""
    refresh(first, last)
    groups: dict[tuple[str, str], Group] = defaultdict(Group)
    daily: dict[dt.date, Group] = {}
    for day, dimension, key, tickets, with_policy, breached, first_response, resolution in ReportDay.select(
            ReportDay.day, ReportDay.dimension, ReportDay.key, ReportDay.tickets, ReportDay.with_policy,
            ReportDay.breached, ReportDay.first_response, ReportDay.resolution).where(
            (ReportDay.day >= first) & (ReportDay.day <= last)).tuples():
        for group in (groups[dimension, key], *([daily.setdefault(day, Group())] if dimension == "all" else [])):
            group.tickets += tickets
            group.with_policy += with_policy
            group.breached += breached
            group.first_responses.append(first_response)
            group.resolutions.append(resolution)
    return groups, daily


def dashboard(since: dt.datetime, until: dt.datetime, now: dt.datetime, only: str = "") -> dict[str, Table]:
    """Every table of the dashboard for tickets created (surveys sent) on the days of [since,
    until); with `only`, just that one (a CSV export), reading only the rows it needs."""
    first, last = since.date(), (until - dt.timedelta(microseconds=1)).date()

    @functools.cache
    def summed():
        return _summed(first, last)

    @functools.cache
    def surveys() -> list[dict]:
        return list(Survey.select(Survey.sent_at, Survey.rating, Survey.comment, Survey.agent, Survey.tier,
                                  Survey.responded_at, Survey.ticket)
                    .where((Survey.state == "sent") & (Survey.sent_at >= since) & (Survey.sent_at < until))
                    .dicts().iterator())

    builders = {
        "sla_by_week": lambda: [_sla_by_week(summed()[1])],
        "sla_by_policy": lambda: [_sla_by_policy(summed()[0])],
        "first_response": lambda: [_waits(summed()[0]["all", ""].first_response, "first_response", "First response")],
        "resolution": lambda: [_waits(summed()[0]["all", ""].resolution, "resolution", "Resolution")],
        "backlog": lambda: [_backlog(now)],
        "csat": lambda: _satisfaction(surveys()),  # csat_by_week, csat_distribution, csat_comments
        "agents": lambda: [_agents(summed()[0], surveys())],
        "tiers": lambda: [_tiers(summed()[0], surveys())],
        "complaints": lambda: [_complaints(summed()[0])],
    }
    if only:
        builders = {name: build for name, build in builders.items() if only == name or only.startswith(f"{name}_")}
    return {t.name: t for build in builders.values() for t in build()}


def _sla_by_week(daily: dict[dt.date, Group]) -> Table:
    weeks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for day, group in daily.items():
        if group.with_policy:
            weeks[_week(day)][0] += group.with_policy
            weeks[_week(day)][1] += group.breached
    table = Table("sla_by_week", "SLA compliance by week", ["week", "tickets", "breached", "compliance %"])
    table.rows = [[week, n, b, _share(n - b, n)] for week, (n, b) in sorted(weeks.items())]
    return table


def _sla_by_policy(groups: dict[tuple[str, str], Group]) -> Table:
    table = Table("sla_by_policy", "SLA compliance by policy", ["policy", "tickets", "breached", "compliance %"])
    table.rows = [[key, g.with_policy, g.breached, _share(g.with_policy - g.breached, g.with_policy)]
                  for (dimension, key), g in sorted(groups.items()) if dimension == "policy" and g.with_policy]
    return table


def _waits(spread: Spread, name: str, title: str) -> Table:
    table = Table(name, f"{title} time", ["wait", "tickets"],
                  figures={"median": _round(spread.percentile(0.5)), "p90": _round(spread.percentile(0.9)),
                           "count": spread.count})
    table.rows = [[label, n] for (label, _), n in zip(WAITS, spread.waits, strict=True)]
    return table


def _backlog(now: dt.datetime) -> Table:
    """Tickets not resolved now, by status and age (all of them, whatever the range): each cell
    one count over a range of the (status, created) index."""
    ages, younger = [], None  # each age: created after its limit ago, and not after the younger one's
    for _, limit in AGES:
        condition = True if limit is None else Ticket.created_at > now - dt.timedelta(days=limit)
        ages.append(condition if younger is None else (Ticket.created_at <= younger) & condition)
        younger = None if limit is None else now - dt.timedelta(days=limit)
    table = Table("backlog", "Backlog by status and age (now)", ["status", *[label for label, _ in AGES], "total"])
    for status in OPEN:
        row = [Ticket.select(fn.COUNT(SQL("*"))).where((Ticket.status == status) & age).scalar() for age in ages]
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


def _agents(groups: dict[tuple[str, str], Group], surveys: list[dict]) -> Table:
    names = dict(Agent.select(Agent.id, Agent.email).tuples())
    replies = Counter({int(key): g.tickets for (dimension, key), g in groups.items() if dimension == "replies"})
    handled = {int(key): g for (dimension, key), g in groups.items() if dimension == "agent"}
    rated = defaultdict(list)
    for s in surveys:
        if s["agent"] and s["rating"]:
            rated[s["agent"]].append(s["rating"])
    table = Table("agents", "Agents", ["agent", "tickets", "replies", "first response median h", "answers",
                                       "CSAT %"])
    for agent_id in sorted(set(handled) | set(replies) | set(rated), key=lambda a: names.get(a, "")):
        mine = handled.get(agent_id, Group())
        table.rows.append([names.get(agent_id, "?"), mine.tickets, replies[agent_id],
                           _round(mine.first_response.percentile(0.5)), len(rated[agent_id]),
                           _share(sum(r >= 4 for r in rated[agent_id]), len(rated[agent_id]))])
    return table


def _tiers(groups: dict[tuple[str, str], Group], surveys: list[dict]) -> Table:
    rated = defaultdict(list)
    for s in surveys:
        if s["rating"]:
            rated[s["tier"]].append(s["rating"])
    table = Table("tiers", "Service by customer tier", ["tier", "tickets", "compliance %", "first response median h",
                                                        "resolution median h", "CSAT %"])
    for (dimension, tier), g in sorted(groups.items()):
        if dimension == "tier":
            table.rows.append([tier, g.tickets, _share(g.with_policy - g.breached, g.with_policy),
                               _round(g.first_response.percentile(0.5)), _round(g.resolution.percentile(0.5)),
                               _share(sum(r >= 4 for r in rated[tier]), len(rated[tier]))])
    return table


def _complaints(groups: dict[tuple[str, str], Group]) -> Table:
    """Complaint tickets by cause: a low rating, a client chasing an answer past its SLA, or filed
    as one from the start (keywords or an agent)."""
    table = Table("complaints", "Complaints by cause", ["cause", "tickets", "resolved", "resolution median h"])
    table.rows = [[cause, g.tickets, g.resolution.count, _round(g.resolution.percentile(0.5))]
                  for (dimension, cause), g in sorted(groups.items()) if dimension == "cause"]
    return table
