"""The SLA job: warnings and escalation levels that fall due. Run every minute by the clock."""

from __future__ import annotations

import logging

from actions import sla
from models.base import utcnow
from postdesk import runtime

from .outgoing import enqueue_deliveries

log = logging.getLogger(__name__)
BATCH = 500


def check_slas(now=None) -> dict:
    """Every ticket whose next SLA moment has come, in due order (so catching up after an outage
    happens oldest first). Each warning and level is claimed by its own row: this job running twice
    at once, or twice in a minute, does each once. Returns what it did."""
    settings = runtime.settings()
    now = now or utcnow()
    seen, failed, queued, cache = 0, 0, [], {}
    last = None
    while True:
        batch = [t.id for t in sla.due_tickets(now, BATCH)]
        if not batch or batch == last:
            break
        try:
            queued += sla.run_due(settings, batch, now, cache)
            seen += len(batch)
        except Exception:  # a failing batch is done ticket by ticket, so one bad ticket stays due alone
            log.exception("SLA batch of %d tickets failed; trying them one by one", len(batch))
            for ticket_id in batch:
                try:
                    queued += sla.run_due(settings, [ticket_id], now, cache)
                    seen += 1
                except Exception:
                    log.exception("SLA check of ticket id %d failed", ticket_id)
                    failed += 1
        last = batch
        if len(batch) < BATCH or failed:
            break
    try:
        sla.follow_configuration(settings)
    except Exception:
        log.exception("recomputing clocks for changed policies failed; the next run goes on")
    runtime.record_run(settings, "sla")
    enqueue_deliveries(settings, queued)
    if seen:
        log.info("SLA: %d tickets checked, %d alerts queued", seen, len(queued))
    return {"tickets": seen, "failed": failed, "alerts": len(queued)}
