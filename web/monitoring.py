"""What operators watch, read from Redis: the RQ queue and its registries, the workers' heartbeats,
when the periodic jobs and IMAP fetches last ran. The status page and `/metrics` both read it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from postdesk import runtime


@dataclass
class RedisStatus:
    error: str = ""  # why Redis could not be read ("" when it was)
    queues: dict[str, dict[str, int]] = field(default_factory=dict)  # queue → {queued, started, scheduled, …}
    workers: list[tuple[str, str, dt.datetime | None]] = field(default_factory=list)  # name, state, heartbeat (UTC)
    last_runs: dict[str, str] = field(default_factory=dict)  # job → "YYYY-mm-dd HH:MM:SS" (UTC) or ""
    imap_fetches: dict[str, str] = field(default_factory=dict)  # account → last fetch, as last_runs
    memory: str = ""


def redis_status(settings) -> RedisStatus:
    """Everything Redis holds about the running parts; a RedisStatus with `error` set when
    Redis cannot be reached (the status page and the metrics report that rather than fail)."""
    try:
        from rq import Worker

        connection = runtime.redis_connection(settings)
        queue = runtime.queue(settings)
        queues = {queue.name: {"queued": queue.count, "started": queue.started_job_registry.count,
                               "scheduled": queue.scheduled_job_registry.count,
                               "deferred": queue.deferred_job_registry.count,
                               "failed": queue.failed_job_registry.count}}
        workers = [(w.name, w.get_state(), _utc(w.last_heartbeat)) for w in Worker.all(queue=queue)]
        accounts = tuple(f"imap:{a.name}" for a in settings.imap)
        fetches = runtime.last_runs(settings, accounts)
        return RedisStatus(queues=queues, workers=workers, last_runs=runtime.last_runs(settings),
                           imap_fetches={job.partition(":")[2]: at for job, at in fetches.items()},
                           memory=connection.info("memory").get("used_memory_human", ""))
    except Exception as exc:  # Redis down or answering nonsense: reported, never raised
        return RedisStatus(error=f"{type(exc).__name__}: {exc}")


def _utc(when: dt.datetime | None) -> dt.datetime | None:
    """RQ's heartbeat as a naive UTC time, like every time in the database."""
    if when is not None and when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def parse_run(text: str | None) -> dt.datetime | None:
    """runtime.record_run's time (naive UTC); None for "" (never)."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S") if text else None


def age_seconds(now: dt.datetime, when: dt.datetime | str | None) -> float | None:
    """Seconds from `when` (naive UTC, or runtime.record_run's text) to `now`; None when never."""
    when = parse_run(when) if isinstance(when, str) else when
    return max(0.0, (now - when).total_seconds()) if when else None
