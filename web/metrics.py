"""`/metrics`: Prometheus figures computed when scraped, from the database and Redis.

The SMTP edge, the workers, the IMAP poller and the web are separate processes (and may be on
separate machines), so counters kept in one process's memory would each see a part. Every figure
here is read at scrape time from where all of them write: the same sources as the status page
(`models.status`, `web.monitoring`), by a custom collector. Each query reads an index range over
waiting or failed rows, a primary key's end, or the last hour; SLA marks are counted once and then
only the new ones (see `SlaMarkCounter`). Nothing is capped or sampled.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import threading
import time

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import CollectorRegistry

from models import status
from models.base import utcnow

from .monitoring import age_seconds, redis_status

bp = Blueprint("metrics", __name__)
RECENT = dt.timedelta(hours=1)
UNCOMMITTED_GRACE = dt.timedelta(seconds=30)  # a transaction open this long may still add an SLA mark


@bp.get("/metrics")
def metrics():
    """The figures in Prometheus' text format, for the allowed addresses or the token's bearer."""
    settings = current_app.config["POSTDESK"]
    if not settings.metrics.enabled:
        abort(404)
    if not is_allowed(settings, request.remote_addr, request.headers):
        abort(403)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(settings))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4,
                    headers={"Cache-Control": "no-store"})


def is_allowed(settings, address: str | None, headers) -> bool:
    """A bearer of the configured token, from anywhere; else a client address in `allow_from`. An
    address is not believed when the request came through a proxy the admin does not count
    (X-Forwarded-For with `web.proxy_count = 0`): that proxy's own address is likely loopback."""
    token = settings.metrics.token
    if token and hmac.compare_digest(headers.get("Authorization", "").encode(), f"Bearer {token}".encode()):
        return True
    if not settings.web.proxy_count and "X-Forwarded-For" in headers:
        return False
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return any(ip in ipaddress.ip_network(n, strict=False) for n in settings.metrics.allow_from)


class SlaMarkCounter:
    """Warnings, breaches and escalations ever recorded. SLA marks are only ever added, so each web
    process counts the table once, then at each scrape only the marks past the last one counted
    (a primary key range)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state: dict[str, tuple[int, dict[str, int]]] = {}  # database url → (last id, counts)

    def totals(self, database_url: str, now: dt.datetime) -> dict[str, int]:
        with self.lock:
            upto, counts = self.state.get(database_url, (0, {}))
            if upto and upto > status.sla_marks_high_water():  # a restored or recreated database
                upto, counts = 0, {}
            upto, new = status.sla_marks_since(upto, now - UNCOMMITTED_GRACE)
            counts = {kind: counts.get(kind, 0) + new.get(kind, 0) for kind in ("warning", "breach", "escalation")}
            self.state[database_url] = (upto, counts)
            return counts


sla_marks = SlaMarkCounter()


class Collector:
    """Reads the figures when the registry is collected; a part that cannot be read says so in
    `postdesk_database_up` / `postdesk_redis_up` and leaves its figures out."""

    def __init__(self, settings):
        self.settings = settings

    def collect(self):
        started, now = time.perf_counter(), utcnow()
        database = GaugeMetricFamily("postdesk_database_up", "1 when the database answered this scrape")
        try:
            families = list(self.from_database(now))
            database.add_metric([], 1)
        except Exception:  # the scrape reports the database down rather than failing
            families = []
            database.add_metric([], 0)
        yield database
        yield from families
        yield from self.from_redis(now)
        duration = GaugeMetricFamily("postdesk_metrics_scrape_seconds", "Time this scrape took to compute")
        duration.add_metric([], time.perf_counter() - started)
        yield duration

    def from_database(self, now: dt.datetime):
        oldest = status.oldest_unprocessed()
        yield GaugeMetricFamily("postdesk_ingest_lag_seconds", "Age of the oldest stored mail not processed yet "
                                "(0 when none waits)", value=age_seconds(now, oldest) or 0.0)
        yield _labelled(GaugeMetricFamily, "postdesk_inbound_mails", "Stored mail waiting (received), set aside "
                        "after every attempt failed (quarantined) or refused (rejected), by state", "state",
                        status.inbound_by_state())
        yield CounterMetricFamily("postdesk_inbound_stored", "Mails ever stored by an edge (the highest id)",
                                  value=status.inbound_stored_total())
        yield _labelled(GaugeMetricFamily, "postdesk_inbound_last_hour_mails", "Mails stored in the last hour, by "
                        "outcome so far (new_ticket, added, bounce, duplicate, rejected, quarantined…; "
                        "none: not processed yet)", "outcome",
                        {(k or "none"): v for k, v in status.inbound_outcomes_since(now - RECENT).items()})
        yield _labelled(GaugeMetricFamily, "postdesk_outbox_mails", "Outgoing mail not sent, by state (pending, "
                        "sending, failed: waiting for a retry, dead: given up)", "state", status.outbox_by_state())
        yield _labelled(GaugeMetricFamily, "postdesk_outbox_failed_attempts", "Failed delivery attempts of the "
                        "mail now failed or dead, by its state", "state", status.outbox_failed_attempts())
        yield CounterMetricFamily("postdesk_outbox_queued", "Outgoing mails ever queued, one per recipient "
                                  "(the highest id)", value=status.outbox_queued_total())
        yield GaugeMetricFamily("postdesk_delivery_lag_seconds", "How long the most overdue outgoing mail has "
                                "been due (0 when none is)", value=age_seconds(now, status.oldest_due_delivery(now))
                                or 0.0)
        yield _labelled(CounterMetricFamily, "postdesk_sla_marks", "SLA warnings, breaches and escalation levels "
                        "recorded", "kind", sla_marks.totals(self.settings.database.url, now))
        yield GaugeMetricFamily("postdesk_sla_breached_tickets", "New or open tickets past an SLA due time now",
                                value=status.breached_tickets(now))
        checkpoints = status.imap_checkpoints()
        stored = GaugeMetricFamily("postdesk_imap_last_stored_age_seconds", "Since an IMAP account last stored "
                                   "a mail", labels=["account"])
        for account in self.settings.imap:
            checkpoint = checkpoints.get(account.name)
            if checkpoint is not None:
                stored.add_metric([account.name], age_seconds(now, checkpoint.updated_at))
        yield stored

    def from_redis(self, now: dt.datetime):
        live = redis_status(self.settings)
        yield GaugeMetricFamily("postdesk_redis_up", "1 when Redis answered this scrape", value=0 if live.error else 1)
        if live.error:
            return
        jobs = GaugeMetricFamily("postdesk_rq_jobs", "RQ jobs by queue and registry (queued: waiting for a "
                                 "worker)", labels=["queue", "state"])
        for queue, counts in live.queues.items():
            for state, n in counts.items():
                jobs.add_metric([queue, state], n)
        yield jobs
        yield GaugeMetricFamily("postdesk_workers", "Workers registered in Redis", value=len(live.workers))
        beats = GaugeMetricFamily("postdesk_worker_heartbeat_age_seconds", "Since each worker's last heartbeat",
                                  labels=["worker"])
        for name, _, beat in live.workers:
            if beat is not None:
                beats.add_metric([name], age_seconds(now, beat))
        yield beats
        yield _ages("postdesk_periodic_job_age_seconds", "Since each periodic job (sweep, sla, followups) last "
                    "finished; absent until it first has", "job", live.last_runs, now)
        yield _ages("postdesk_imap_last_fetch_age_seconds", "Since each IMAP account was last checked for new mail",
                    "account", live.imap_fetches, now)


def _ages(name: str, documentation: str, label: str, times: dict[str, str], now: dt.datetime):
    """Seconds since each recorded time ("" for never: left out)."""
    metric = GaugeMetricFamily(name, documentation, labels=[label])
    for key, at in times.items():
        if at:
            metric.add_metric([key], age_seconds(now, at))
    return metric


def _labelled(family, name: str, documentation: str, label: str, values: dict[str, int]):
    metric = family(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        metric.add_metric([key], value)
    return metric
