"""/metrics: the figures an operator graphs and alerts on move when mail comes in, bounces, waits,
fails to go out or breaches an SLA; only this machine (or a token's bearer) may read them."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from rq import SimpleWorker

from mailer import spool
from models import inbound, migrations
from models.tables import InboundMail, Outbox
from postdesk import runtime
from tests.conftest import free_port, ingest, load_eml, make_settings
from web import create_app
from workers import outgoing
from workers.sla import check_slas

T0 = dt.datetime(2026, 12, 7, 9, 0)
POLICIES = [{"name": "default", "calendar": "24x7", "first_response_minutes": 60, "warning_minutes": 10}]


@pytest.fixture
def desk(tmp_path, redis_server):
    """Settings whose relay refuses every connection (nothing listens on its port), so outgoing
    mail fails and, after two attempts, is dead."""
    settings = make_settings(tmp_path, redis_server, policies=POLICIES,
                             calendars=[{"name": "24x7", "always_open": True}],
                             outgoing={"relay_host": "127.0.0.1", "relay_port": free_port(), "max_attempts": 2,
                                       "timeout_seconds": 2},
                             imap=[{"name": "main", "host": "127.0.0.1", "username": "support@example.com"}])
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    yield settings
    runtime.close()


def scrape(app, **request) -> dict:
    response = app.test_client().get("/metrics", **request)
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def figure(figures: dict, name: str, **labels) -> float | None:
    return figures.get((name, tuple(sorted(labels.items()))))


def test_mail_in_bounced_and_dead_mail_out_change_the_figures(desk):
    app = create_app(desk, testing=True)
    with time_machine.travel(T0.replace(tzinfo=dt.UTC), tick=False) as clock:
        empty = scrape(app)
        assert figure(empty, "postdesk_database_up") == 1 and figure(empty, "postdesk_redis_up") == 1
        assert figure(empty, "postdesk_inbound_stored_total") == 0 and figure(empty, "postdesk_ingest_lag_seconds") == 0

        stored = spool.store(load_eml("new_question.eml"), "smtp", "", ("support@example.com",))
        clock.shift(90)  # nobody processed it for a minute and a half
        waiting = scrape(app)
        assert figure(waiting, "postdesk_ingest_lag_seconds") == 90
        assert figure(waiting, "postdesk_inbound_mails", state="received") == 1
        assert figure(waiting, "postdesk_inbound_stored_total") == 1
        assert figure(waiting, "postdesk_inbound_last_hour_mails", outcome="none") == 1

        from mailer import pipeline
        pipeline.process(desk, stored)  # a new ticket, and its acknowledgement queued
        processed = scrape(app)
        assert figure(processed, "postdesk_ingest_lag_seconds") == 0
        assert figure(processed, "postdesk_inbound_mails", state="received") == 0
        assert figure(processed, "postdesk_inbound_last_hour_mails", outcome="new_ticket") == 1
        assert figure(processed, "postdesk_outbox_mails", state="pending") == 1
        assert figure(processed, "postdesk_outbox_queued_total") == 1

        acknowledgement = Outbox.get()
        assert outgoing.deliver(acknowledgement.id) == "failed"  # the relay refuses the connection
        retrying = scrape(app)
        assert figure(retrying, "postdesk_outbox_mails", state="failed") == 1
        assert figure(retrying, "postdesk_outbox_failed_attempts", state="failed") == 1
        clock.shift(3600)  # past its retry time: due, and not sent
        assert figure(scrape(app), "postdesk_delivery_lag_seconds") > 0
        assert outgoing.deliver(acknowledgement.id) == "dead"
        dead = scrape(app)
        assert figure(dead, "postdesk_outbox_mails", state="dead") == 1
        assert figure(dead, "postdesk_outbox_mails", state="failed") == 0
        assert figure(dead, "postdesk_outbox_failed_attempts", state="dead") == 2
        assert figure(dead, "postdesk_delivery_lag_seconds") == 0

        ingest(desk, "bounce_dsn_permanent.eml")  # the client's address is gone
        assert figure(scrape(app), "postdesk_inbound_last_hour_mails", outcome="bounce") == 1
        inbound.quarantine(InboundMail.get_by_id(stored), "every attempt failed")
        assert figure(scrape(app), "postdesk_inbound_mails", state="quarantined") == 1
        assert figure(dead, "postdesk_inbound_last_hour_mails", outcome="new_ticket") is None  # over an hour ago
        clock.shift(3601)
        assert figure(scrape(app), "postdesk_inbound_last_hour_mails", outcome="bounce") is None
        assert figure(scrape(app), "postdesk_inbound_stored_total") == 2  # the total stays


def test_sla_warnings_and_breaches_are_counted_once_each(desk):
    app = create_app(desk, testing=True)
    with time_machine.travel(T0.replace(tzinfo=dt.UTC), tick=False) as clock:
        ingest(desk, "new_question.eml")  # the first response is due at 10:00, the warning at 09:50
        clock.move_to((T0 + dt.timedelta(minutes=50)).replace(tzinfo=dt.UTC))
        check_slas()
        clock.shift(60)  # the mark's transaction is surely over
        warned = scrape(app)
        assert figure(warned, "postdesk_sla_marks_total", kind="warning") == 1
        assert figure(warned, "postdesk_sla_marks_total", kind="breach") == 0
        assert figure(warned, "postdesk_sla_breached_tickets") == 0
        clock.move_to((T0 + dt.timedelta(minutes=61)).replace(tzinfo=dt.UTC))
        check_slas()
        check_slas()  # the job again: nothing new happens, nothing more is counted
        clock.shift(60)
        breached = scrape(app)
        assert figure(breached, "postdesk_sla_marks_total", kind="breach") == 1
        assert figure(breached, "postdesk_sla_marks_total", kind="warning") == 1
        assert figure(breached, "postdesk_sla_breached_tickets") == 1
        assert figure(scrape(app), "postdesk_sla_marks_total", kind="breach") == 1  # a second scrape adds nothing


def test_queue_workers_periodic_jobs_and_imap_come_from_redis(desk):
    app = create_app(desk, testing=True)
    before = scrape(app)
    assert figure(before, "postdesk_workers") == 0
    assert figure(before, "postdesk_imap_last_fetch_age_seconds", account="main") is None  # never fetched
    queue = runtime.queue(desk)
    queue.enqueue(outgoing.deliver, 12345)
    worker = SimpleWorker([queue], connection=runtime.redis_connection(desk))
    worker.register_birth()
    worker.heartbeat()
    runtime.record_run(desk, "sla")
    runtime.record_run(desk, "imap:main")
    try:
        figures = scrape(app)
    finally:
        worker.register_death()
        queue.empty()
    assert figure(figures, "postdesk_rq_jobs", queue=queue.name, state="queued") == 1
    assert figure(figures, "postdesk_workers") == 1
    assert 0 <= figure(figures, "postdesk_worker_heartbeat_age_seconds", worker=worker.name) < 60
    assert 0 <= figure(figures, "postdesk_periodic_job_age_seconds", job="sla") < 60
    assert figure(figures, "postdesk_periodic_job_age_seconds", job="sweep") is None  # never ran
    assert 0 <= figure(figures, "postdesk_imap_last_fetch_age_seconds", account="main") < 60


def test_with_redis_down_the_database_figures_still_come(tmp_path, redis_server):
    settings = make_settings(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    try:
        figures = scrape(create_app(settings, testing=True))
    finally:
        runtime.close()
    assert figure(figures, "postdesk_redis_up") == 0 and figure(figures, "postdesk_database_up") == 1
    assert figure(figures, "postdesk_ingest_lag_seconds") == 0


@pytest.mark.parametrize(("metrics", "web", "request_", "status"), [
    ({}, {}, {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}}, 200),
    ({}, {}, {"environ_base": {"REMOTE_ADDR": "::1"}}, 200),
    ({}, {}, {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}, 403),
    # nginx on this machine forwarding a stranger, and the admin did not say a proxy is in front
    ({}, {}, {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}, "headers": {"X-Forwarded-For": "203.0.113.9"}}, 403),
    # …and when it did: the stranger's address is the one checked
    ({}, {"proxy_count": 1}, {"environ_base": {"REMOTE_ADDR": "127.0.0.1"},
                              "headers": {"X-Forwarded-For": "203.0.113.9"}}, 403),
    ({"allow_from": ["10.0.0.0/8"]}, {"proxy_count": 1},
     {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}, "headers": {"X-Forwarded-For": "10.1.2.3"}}, 200),
    ({"token": "s3cret-scraper"}, {}, {"environ_base": {"REMOTE_ADDR": "203.0.113.9"},
                                       "headers": {"Authorization": "Bearer s3cret-scraper"}}, 200),
    ({"token": "s3cret-scraper"}, {}, {"environ_base": {"REMOTE_ADDR": "203.0.113.9"},
                                       "headers": {"Authorization": "Bearer guessed"}}, 403),
    ({"enabled": False}, {}, {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}}, 404),
])
def test_who_may_read_the_metrics(tmp_path, redis_server, metrics, web, request_, status):
    settings = make_settings(tmp_path, redis_server, metrics=metrics, web=web)
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    try:
        response = create_app(settings, testing=True).test_client().get("/metrics", **request_)
    finally:
        runtime.close()
    assert response.status_code == status
    assert (b"postdesk_ingest_lag_seconds" in response.data) == (status == 200)


def test_the_status_page_reads_the_same_sources(desk):
    from models import agents
    from tests.conftest import PASSWORD, signed_in

    agents.create_agent("agnes@example.com", PASSWORD, name="Agnes", admin=True)
    app = create_app(desk, testing=True)
    page = signed_in(app).get("/status").get_data(as_text=True)
    assert "IMAP main: last fetch" in page and "No worker is running" in page
    assert page.split("IMAP main: last fetch")[1].split("</tr>")[0].count("never") == 1
    spool.store(load_eml("new_question.eml"), "smtp")
    worker = SimpleWorker([runtime.queue(desk)], connection=runtime.redis_connection(desk))
    worker.register_birth()
    runtime.record_run(desk, "imap:main")
    try:
        page = signed_in(app).get("/status").get_data(as_text=True)
    finally:
        worker.register_death()
    assert worker.name in page and "never" not in page.split("IMAP main: last fetch")[1].split("</tr>")[0]
    assert "<th>Stored, not processed yet</th><td>1</td>" in page
    assert figure(scrape(app), "postdesk_inbound_mails", state="received") == 1
