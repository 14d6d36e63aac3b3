"""The sweep: re-enqueues work that no job took. Run by the periodic clock (workers/schedule.py)."""

from __future__ import annotations

import datetime as dt
import logging

from models import inbound, outbox
from postdesk import runtime

from .outgoing import enqueue_deliveries
from .processing import BATCH_SIZE, enqueue_processing

log = logging.getLogger(__name__)


def sweep() -> dict:
    """Re-enqueue what was left behind: mail stored while Redis was down or whose job was lost,
    deliveries due for a retry, and fresh deliveries whose job was lost (after the same wait)."""
    settings = runtime.settings()
    stale = inbound.stale_ids(settings.worker.stale_after_seconds)
    due = outbox.due_ids(pending_after=dt.timedelta(seconds=settings.worker.stale_after_seconds))
    for start in range(0, len(stale), BATCH_SIZE):
        enqueue_processing(settings, stale[start:start + BATCH_SIZE])
    enqueue_deliveries(settings, due)
    runtime.record_run(settings, "sweep")
    if stale or due:
        log.info("sweep: re-enqueued %d inbound, %d deliveries", len(stale), len(due))
    return {"inbound": len(stale), "outbox": len(due)}
