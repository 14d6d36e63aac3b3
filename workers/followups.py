"""The follow-up job: satisfaction surveys and progress updates that fall due, and the
dashboard's daily figures summed again where tickets changed. Run every minute by the clock,
after the SLA job."""

from __future__ import annotations

import logging

from actions import progress, surveys, tickets
from models import reports
from models.base import utcnow
from postdesk import runtime

from .outgoing import enqueue_deliveries

log = logging.getLogger(__name__)


def send_followups(now=None) -> dict:
    """Each survey and progress update is taken in its own transaction, so this job running twice
    at once sends each once; one that fails stays due and holds up no other kind."""
    settings = runtime.settings()
    now = now or utcnow()
    done = {}
    for name, send in (("surveys", surveys.send_due), ("progress_updates", progress.send_due)):
        try:
            queued = send(settings, now)
        except Exception:
            log.exception("%s job failed; what is due stays due", name)
            queued = []
        enqueue_deliveries(settings, queued)
        done[name] = len(queued)
    try:
        done["closed"] = tickets.close_resolved(settings, now)
    except Exception:
        log.exception("closing resolved tickets failed; they are closed on a later run")
    try:
        done["report_days"] = len(reports.refresh())
    except Exception:
        log.exception("summing the dashboard's days failed; the dashboard sums them itself")
    runtime.record_run(settings, "followups")
    if any(done.values()):
        log.info("follow-ups queued: %s", done)
    return done
