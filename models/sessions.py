"""Server-side admin sessions, and the failed logins that throttle password guessing."""

from __future__ import annotations

import datetime as dt
import secrets

from . import dialect
from .base import db, utcnow
from .tables import Agent, LoginFailure, WebSession

# Recording every request would make each page view a write; a minute is precise enough for an
# idle timeout counted in hours.
TOUCH_EVERY = dt.timedelta(minutes=1)


def start(agent: Agent, idle_minutes: int, now: dt.datetime | None = None) -> str:
    """A new session for the agent; returns its id, the only thing the cookie carries."""
    now = now or utcnow()
    # Ended sessions are removed here, at login, rather than by a job: staff log in rarely.
    WebSession.delete().where(WebSession.last_seen_at < now - dt.timedelta(minutes=idle_minutes)).execute()
    return WebSession.create(id=secrets.token_urlsafe(32), agent=agent, created_at=now,
                             last_seen_at=now).id


def find(session_id: str, idle_minutes: int, now: dt.datetime | None = None) -> WebSession | None:
    """The live session with this id and its active agent (as `.agent`), else None.

    A session ends when it has not been used for `idle_minutes`, or at once when its agent is made
    inactive; its last use is recorded at most once a minute."""
    if not session_id:
        return None
    now = now or utcnow()
    found = (WebSession.select(WebSession, Agent).join(Agent)
             .where((WebSession.id == session_id) & (Agent.active == True)  # noqa: E712
                    & (WebSession.last_seen_at >= now - dt.timedelta(minutes=idle_minutes)))
             .first())
    if found is not None and now - found.last_seen_at >= TOUCH_EVERY:
        WebSession.update(last_seen_at=now).where(WebSession.id == session_id).execute()
        found.last_seen_at = now
    return found


def end(session_id: str) -> None:
    WebSession.delete().where(WebSession.id == session_id).execute()


def end_all(agent: Agent) -> int:
    """End every session of the agent (a password change); returns how many there were."""
    return WebSession.delete().where(WebSession.agent == agent).execute()


def count_attempt(limits: dict[str, int | None], window_minutes: int,
                  now: dt.datetime | None = None) -> list[int]:
    """Count a login attempt as a failure against each key (see `failure_key`), unless one of them
    already has its limit of failures within the window (None: no limit, counted all the same):
    then count nothing and return [].

    Returns the ids of the rows it wrote; `forgive` removes them when the password was right.
    Counting before the password is checked, in the transaction that checks the limit, is what
    holds against many guesses sent at once (such transactions run one at a time: see
    dialect.lock_names)."""
    now = now or utcnow()
    window = dt.timedelta(minutes=window_minutes)
    LoginFailure.delete().where(LoginFailure.at < now - window).execute()  # indexed, keeps it small
    with db.atomic():
        dialect.lock_names(list(limits))
        if locked_until(limits, window_minutes, now):
            return []
        return [LoginFailure.create(key=key, at=now).id for key in limits]


def locked_until(limits: dict[str, int | None], window_minutes: int,
                 now: dt.datetime | None = None) -> dt.datetime | None:
    """When every key is back below its limit of failures within the window; None if none is at it."""
    now = now or utcnow()
    window = dt.timedelta(minutes=window_minutes)
    times: dict[str, list[dt.datetime]] = {key: [] for key in limits}
    for row in (LoginFailure.select(LoginFailure.key, LoginFailure.at)
                .where(LoginFailure.key.in_(list(limits)) & (LoginFailure.at >= now - window))
                .order_by(LoginFailure.at)):
        times[row.key].append(row.at)
    # A key is free again once enough of its oldest failures have left the window.
    free_at = [at[len(at) - limit] + window for key, at in times.items()
               if (limit := limits[key]) is not None and len(at) >= limit]
    return max(free_at, default=None)


def forgive(keys: list[str], attempt_ids: list[int]) -> None:
    """The password was right: the failures of these keys (the staff address's, the browser's)
    and this attempt's rows no longer count. The client address's earlier failures stay, or one
    valid account would reset the count for guessing at others."""
    (LoginFailure.delete()
     .where(LoginFailure.key.in_(keys) | LoginFailure.id.in_(attempt_ids)).execute())


def failure_key(kind: str, value: str) -> str:
    """"email:<address>" or "ip:<client address>", cut to the column's 255 characters."""
    return f"{kind}:{value.strip().lower()}"[:255]
