"""The sweep: re-enqueues work that no job took; and once a day the query planner's statistics and
the attachment store's orphans. Run by the periodic clock (workers/schedule.py)."""

from __future__ import annotations

import datetime as dt
import logging

from peewee import fn

from models import attachments, inbound, outbox
from models.base import db
from models.tables import Ticket
from postdesk import runtime

from .handover import BATCH_SIZE, enqueue_processing
from .outgoing import enqueue_deliveries

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


STATISTICS_FROM = 10_000  # tickets: below, the planner's own guesses serve, and statistics of a young
# database would mislead it as the database grows


def refresh_statistics() -> bool:
    """ANALYZE, once a day: SQLite's planner chooses between indexes by these statistics and
    nothing else keeps them (PostgreSQL's autovacuum does, and this is harmless there). Without
    them it may read a queue's whole index range where 500 searched tickets by id were cheaper."""
    settings = runtime.settings()
    if (Ticket.select(fn.MAX(Ticket.id)).scalar() or 0) < STATISTICS_FROM:
        return False
    db.execute_sql("ANALYZE")
    runtime.record_run(settings, "statistics")
    log.info("planner statistics refreshed (ANALYZE)")
    return True


def collect_attachment_orphans() -> int:
    """Once a day: remove files of the attachment store that no attachment names (left by mail
    that failed after its files were written) once they are older than the grace period."""
    settings = runtime.settings()
    removed = attachments.collect_orphans(settings.attachments.orphan_grace_hours)
    runtime.record_run(settings, "attachment_orphans")
    return removed
