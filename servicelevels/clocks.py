"""A ticket's three SLA clocks, computed from its history: pure, explicit times in, times out.

- first_response starts when the ticket is created and is met by the first public agent reply;
- next_response starts with a client message that follows an agent's reply (the oldest
  unanswered message counts, as in Zendesk) and is met by the next reply;
- resolution runs from creation until the ticket is resolved or closed; a reopened ticket
  runs it on, with the time it had used.

Every clock pauses while the ticket is pending (waiting on the client); the response clocks also
while it is resolved or closed. Paused time is not counted: time is business minutes of the
policy's calendar, summed over the stretches the clock ran. Recomputing from the history is what
makes a priority, tier or policy change right: the new targets apply to the whole history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CLOCKS = ("first_response", "next_response", "resolution")
STOPPED = ("pending", "resolved", "closed")  # the response clocks do not run
RESOLUTION_STOPPED = ("pending",)


@dataclass(frozen=True)
class Happening:
    """One thing in a ticket's life that moves the clocks."""

    at: dt.datetime
    kind: str  # "created", "customer" (a client message), "reply" (a public agent reply), "status"
    status: str = ""  # the new status, for "status"


@dataclass(frozen=True)
class Clock:
    name: str
    state: str  # "" (not started or no target), running, paused, met, breached
    target: int = 0  # business minutes
    used: float = 0.0  # business minutes counted up to `now` (or to when it was met)
    started_at: dt.datetime | None = None  # this run of the clock (next_response: per client message)
    due: dt.datetime | None = None  # when a running clock reaches its target; None while paused or met
    met_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None  # when it used up its target, if it has

    @property
    def late(self) -> bool:
        return self.breached_at is not None

    @property
    def remaining(self) -> float:
        """Business minutes left (negative: overdue)."""
        return self.target - self.used


@dataclass
class _Run:
    started_at: dt.datetime
    used: float = 0.0  # business minutes up to `since` (or to the pause)
    since: dt.datetime | None = None  # running since (None: paused)
    met_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None


def compute(history: list[Happening], targets: dict[str, int], calendar, now: dt.datetime) -> dict[str, Clock]:
    """The clocks at `now` from the ticket's history (in time order; the first is "created")."""
    runs: dict[str, _Run | None] = dict.fromkeys(CLOCKS)
    status = "new"
    answered = False  # an agent has replied since the last client message

    def pause(name, at):
        run = runs[name]
        if run is not None and run.since is not None and run.met_at is None:
            _count(run, at, targets.get(name, 0), calendar)
            run.since = None

    def resume(name, at):
        run = runs[name]
        if run is not None and run.since is None and run.met_at is None and _may_run(name, status):
            run.since = at

    def meet(name, at):
        run = runs[name]
        if run is not None and run.met_at is None:
            pause(name, at)
            run.met_at = at

    for happening in sorted(history, key=lambda h: h.at):
        at = happening.at
        if happening.kind == "created":
            runs["first_response"] = _Run(at, since=at)
            runs["resolution"] = _Run(at, since=at)
        elif happening.kind == "reply":
            meet("first_response", at)
            meet("next_response", at)
            answered = True
        elif happening.kind == "customer":
            first = runs["first_response"]
            if answered and (first is None or first.met_at is not None):
                runs["next_response"] = _Run(at, since=at if _may_run("next_response", status) else None)
                answered = False
        elif happening.kind == "status":
            old, status = status, happening.status
            for name in CLOCKS:
                if not _may_run(name, status):
                    pause(name, at)
            if status in ("resolved", "closed") and runs["resolution"] is not None:
                meet("resolution", at)
            elif old in ("resolved", "closed") and status not in ("resolved", "closed"):
                run = runs["resolution"]
                if run is not None:  # reopened: the resolution clock runs on with the time it had used
                    run.met_at = None
            for name in CLOCKS:
                resume(name, at)
    return {name: _clock(name, runs[name], targets.get(name, 0), calendar, now) for name in CLOCKS}


def _may_run(name: str, status: str) -> bool:
    return status not in (RESOLUTION_STOPPED if name == "resolution" else STOPPED)


def _count(run: _Run, until: dt.datetime, target: int, calendar) -> None:
    """Add the stretch since `run.since` to the time used, noting when the target was reached."""
    stretch = calendar.between(run.since, until)
    if target and run.breached_at is None and run.used + stretch >= target:
        run.breached_at = calendar.add(run.since, target - run.used)
    run.used += stretch


def _clock(name: str, run: _Run | None, target: int, calendar, now: dt.datetime) -> Clock:
    if run is None or not target:
        return Clock(name, "", target)
    if run.met_at is not None:
        return Clock(name, "met", target, run.used, run.started_at, met_at=run.met_at, breached_at=run.breached_at)
    if run.since is None:
        state = "breached" if run.breached_at else "paused"
        return Clock(name, state, target, run.used, run.started_at, breached_at=run.breached_at)
    due = run.breached_at or calendar.add(run.since, target - run.used)
    used = run.used + calendar.between(run.since, now)
    breached_at = due if due <= now else None
    return Clock(name, "breached" if breached_at else "running", target, used, run.started_at, due=due,
                 breached_at=breached_at)


def worst(clocks: dict[str, Clock]) -> str:
    """One word for the ticket: breached, running, paused, met or ""."""
    states = {c.state for c in clocks.values()}
    for state in ("breached", "running", "paused", "met"):
        if state in states:
            return state
    return ""
