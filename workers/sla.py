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
    seen, failed, queued, teams = 0, 0, [], {}
    last_id = None
    while True:
        batch = list(sla.due_tickets(now, BATCH))
        if not batch or batch[-1].id == last_id:
            break
        for ticket in batch:
            try:
                queued += sla.run_due(settings, ticket, now, team_cache=teams)
                seen += 1
            except Exception:  # one ticket's failure does not stop the others; it stays due
                log.exception("SLA check of ticket #%s failed", ticket.number)
                failed += 1
        last_id = batch[-1].id
        if len(batch) < BATCH or failed:
            break
    enqueue_deliveries(settings, queued)
    if seen:
        log.info("SLA: %d tickets checked, %d alerts queued", seen, len(queued))
    return {"tickets": seen, "failed": failed, "alerts": len(queued)}
