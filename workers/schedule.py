"""The periodic schedule: one clock per installation (a Redis lock), enqueueing periodic jobs."""

from __future__ import annotations

import logging
import threading

import redis

from postdesk import runtime

from . import followups, sla, sweeper

log = logging.getLogger(__name__)


SLA_INTERVAL = 60  # seconds
STATISTICS_INTERVAL = 86_400  # and the attachment store's orphans


def tick(settings) -> bool:
    """Enqueue the sweep, and every minute the SLA and follow-up jobs, unless another clock
    (another worker process or machine) did so within the interval: one of each per installation."""
    interval = settings.worker.sweep_interval_seconds
    conn = runtime.redis_connection(settings)
    prefix = settings.redis.queue_prefix
    if conn.set(f"{prefix}:clock:sla", "1", nx=True, ex=SLA_INTERVAL - 1):
        runtime.queue(settings).enqueue(sla.check_slas)
        runtime.queue(settings).enqueue(followups.send_followups)
    if conn.set(f"{prefix}:clock:statistics", "1", nx=True, ex=STATISTICS_INTERVAL):
        runtime.queue(settings).enqueue(sweeper.refresh_statistics, job_timeout=3600)
        runtime.queue(settings).enqueue(sweeper.collect_attachment_orphans, job_timeout=3600)
    if not conn.set(f"{prefix}:clock:sweep", "1", nx=True, ex=max(1, interval - 1)):
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
            stop.wait(min(settings.worker.sweep_interval_seconds, SLA_INTERVAL))  # each keeps its own pace

    thread = threading.Thread(target=run, name="postdesk-clock", daemon=True)
    thread.start()
    return thread
