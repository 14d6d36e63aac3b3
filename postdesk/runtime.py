"""Process wiring: the settings, database and Redis connection a running process uses."""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import TYPE_CHECKING

from models import migrations
from models.base import db, open_database

from . import config

if TYPE_CHECKING:
    import redis
    from rq import Queue

log = logging.getLogger(__name__)

_state: dict = {}


def init(settings: config.Settings, check_schema: bool = True) -> config.Settings:
    """Bind the database and remember the settings for jobs run in this process."""
    open_database(settings)
    if check_schema and not migrations.is_current():
        raise config.ConfigError(f"{settings.database.url}: schema is not current; run `postdesk migrate`")
    _state.clear()
    _state["settings"] = settings
    return settings


def settings() -> config.Settings:
    """The settings this process was started with. A job run in a process nobody initialised
    reads POSTDESK_CONFIG; it never falls back to the checkout's own config.toml, whose embedded
    database would quietly be a different one than the deployment's."""
    if "settings" not in _state:
        path = os.environ.get("POSTDESK_CONFIG")
        if not path:
            raise config.ConfigError("no settings in this process: start it through `postdesk` "
                                     "(runtime.init) or set POSTDESK_CONFIG")
        log.info("settings from POSTDESK_CONFIG=%s", path)
        init(config.load(path))
    return _state["settings"]


def redis_url(settings: config.Settings) -> str:
    """The configured Redis, else the embedded one `postdesk run` keeps on a socket under var/."""
    return settings.redis.url or f"unix://{settings.var / 'redis.sock'}"


def redis_connection(settings: config.Settings) -> redis.Redis:
    import redis  # here, not at the top: commands that never talk to Redis (import) start faster

    key = ("redis", redis_url(settings))
    if key not in _state:
        _state[key] = redis.Redis.from_url(redis_url(settings), socket_connect_timeout=2,
                                           socket_timeout=10, health_check_interval=30)
    return _state[key]


PERIODIC = ("sweep", "sla", "followups")


def record_run(settings: config.Settings, job: str) -> None:
    """Note that a periodic job finished now (the health page shows when each last did)."""
    import redis

    try:
        redis_connection(settings).set(f"{settings.redis.queue_prefix}:last_run:{job}",
                                       dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"))
    except redis.RedisError as exc:  # what the job did stands; only the note is lost
        log.warning("could not record the %s job's run: %s", job, exc)


def last_runs(settings: config.Settings, jobs: tuple[str, ...] = PERIODIC) -> dict[str, str]:
    """When each periodic job (or other recorded run) last finished (UTC, "" when never)."""
    keys = [f"{settings.redis.queue_prefix}:last_run:{job}" for job in jobs]
    values = redis_connection(settings).mget(keys) if keys else []
    return {job: (v.decode() if v else "") for job, v in zip(jobs, values, strict=True)}


def queue(settings: config.Settings, connection: redis.Redis | None = None) -> Queue:
    from rq import Queue

    return Queue(settings.redis.queue_prefix, connection=connection or redis_connection(settings))


def setup_logging(verbose: bool = False, format_: str = "text") -> None:
    from . import logs

    logs.setup(verbose, format_)


def close() -> None:
    if not db.is_closed():
        db.close()
