"""The periodic schedule: one clock per installation (a Redis lock), enqueueing periodic jobs."""

from __future__ import annotations

import logging
import threading

import redis

from postdesk import runtime

from . import sweeper

log = logging.getLogger(__name__)


def tick(settings) -> bool:
    """Enqueue the sweep unless another clock did so within the interval."""
    interval = settings.worker.sweep_interval_seconds
    conn = runtime.redis_connection(settings)
    if not conn.set(f"{settings.redis.queue_prefix}:clock:sweep", "1", nx=True, ex=max(1, interval - 1)):
        return False
    runtime.queue(settings).enqueue(sweeper.sweep)
    return True


def start_clock(settings, stop: threading.Event) -> threading.Thread:
    def run():
        while not stop.is_set():
            try:
                tick(settings)
            except redis.RedisError as exc:
                log.warning("clock: Redis unavailable (%s); will try again", exc)
            stop.wait(settings.worker.sweep_interval_seconds)

    thread = threading.Thread(target=run, name="postdesk-clock", daemon=True)
    thread.start()
    return thread
