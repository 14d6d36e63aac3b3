"""Workers: batches, mail that arrives before the mail it answers, and the sweeper."""

import datetime as dt

import redis
from rq import SimpleWorker

from mailer import spool
from models.base import utcnow
from models.tables import InboundMail, Message, Ticket
from postdesk import runtime
from tests.conftest import load_eml, run_worker, sent_mail
from workers import handover, outgoing, processing, runner, sweeper


def store(name: str) -> int:
    return spool.store(load_eml(name), "smtp", "", ("support@example.com",))


def test_reply_stored_before_its_question_still_joins_the_question_ticket(settings):
    reply = store("reply_all_from_cc_colleague.eml")  # parallel connections: the reply won the race
    question = store("new_question_with_cc.eml")
    outcomes = processing.process_inbound_batch([reply, question])
    assert outcomes == {"new_ticket": 1, "added": 1}
    assert Ticket.select().count() == 1
    assert Message.get(Message.message_id == "<vpn-bob-reply@client.example>").threaded_by == "header"


def test_a_deferred_mail_is_processed_as_it_stands_after_the_last_deferral(settings):
    reply = store("reply_all_from_cc_colleague.eml")
    store("new_question_with_cc.eml")  # stored, but its job is lost: it never gets processed here
    assert processing.handle(settings, reply, wait=False).outcome == "deferred"
    assert InboundMail.get_by_id(reply).state == "received"  # nothing written while it waits
    assert processing.process_inbound(reply, deferrals=processing.MAX_DEFERRALS) == "new_ticket"


def test_one_failing_mail_does_not_stop_its_batch(settings, monkeypatch):
    from mailer import pipeline

    good, bad = store("new_question.eml"), store("no_message_id.eml")
    real = pipeline.parse

    def parse_or_fail(ctx):
        real(ctx)
        if ctx.row.id == bad:
            raise RuntimeError("simulated bug")
    monkeypatch.setattr(pipeline, "STEPS", (parse_or_fail,) + pipeline.STEPS[1:])
    assert processing.process_inbound_batch([bad, good]) == {"failed": 1, "new_ticket": 1}
    row = InboundMail.get_by_id(bad)
    assert row.state == "received" and row.attempts == 1 and "simulated bug" in row.error


def test_batcher_hands_stored_mail_to_the_workers_in_one_job(settings):
    batcher = handover.Batcher(settings, size=5, wait=0.05)
    ids = [store("new_question.eml"), store("no_message_id.eml"), store("chinese_gbk_question.eml")]
    for inbound_id in ids:
        batcher.add(inbound_id)
    batcher.close()
    queue = runtime.queue(settings)
    assert queue.count == 1 and queue.jobs[0].args == (ids,)
    run_worker(settings)
    assert Ticket.select().count() == 3 and len(sent_mail(settings)) == 3


def test_sweeper_enqueues_mail_whose_job_was_lost(settings):
    inbound_id = store("new_question.eml")  # stored; its job never reached Redis
    assert sweeper.sweep()["inbound"] == 0  # not stale yet: its job may still be on its way
    stale = utcnow() - dt.timedelta(seconds=settings.worker.stale_after_seconds + 1)
    InboundMail.update(received_at=stale).where(InboundMail.id == inbound_id).execute()
    assert sweeper.sweep()["inbound"] == 1
    run_worker(settings)
    assert InboundMail.get_by_id(inbound_id).state == "processed"


def test_an_idle_worker_stops_at_once_on_sigterm(settings):
    import signal
    import subprocess
    import sys
    import time

    worker = subprocess.Popen([sys.executable, "-m", "postdesk", "--config", settings.source, "worker"],
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while "worker listening" not in (line := worker.stderr.readline()) and time.monotonic() < deadline:
            assert line or worker.poll() is None, "the worker exited before listening"
        time.sleep(0.5)  # into RQ's blocking wait for a job
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()


def test_without_redis_a_reply_stored_before_its_question_still_joins_the_question_ticket(settings):
    from models import inbound
    from workers import runner

    reply = store("reply_all_from_cc_colleague.eml")
    question = store("new_question_with_cc.eml")
    assert inbound.lease(question, 60) is not None  # another worker holds the question
    assert runner.work_from_database(settings) == 0  # the reply waits; the question is held
    assert Ticket.select().count() == 0 and InboundMail.get_by_id(reply).state == "received"
    InboundMail.update(leased_until=None, outcome="").where(InboundMail.id == question).execute()  # it died
    while runner.work_from_database(settings):
        pass
    assert Ticket.select().count() == 1
    assert Message.get(Message.message_id == "<vpn-bob-reply@client.example>").threaded_by == "header"


def test_the_clock_enqueues_one_sweep_and_one_sla_job_per_installation(settings):
    from postdesk import runtime
    from workers import schedule

    queue = runtime.queue(settings)
    assert schedule.tick(settings) is True
    assert schedule.tick(settings) is False  # a second clock (another process) within the interval
    names = sorted(job.func_name for job in queue.get_jobs())
    assert names == ["workers.followups.send_followups", "workers.sla.check_slas",
                     "workers.sweeper.collect_attachment_orphans", "workers.sweeper.refresh_statistics",
                     "workers.sweeper.sweep"]


def test_an_idle_worker_logs_no_errors(settings):
    """An operator sees errors only when something is wrong. An idle worker used to log "Timeout
    reading from socket" every few seconds (a Redis socket timeout shorter than RQ's 45-second
    blocking read; RQ 3 now lengthens it itself, and the worker's own connection allows for it).
    Within these 15 seconds the clock also enqueues, and the worker runs, the sweep, the SLA job
    and the follow-up job on an empty installation: none of them may log an error either."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from models import migrations

    migrations.migrate()
    worker = subprocess.Popen([sys.executable, "-m", "postdesk", "--config", settings.source, "worker"],
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    time.sleep(15)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert "worker listening" in stderr
    assert [line for line in stderr.splitlines() if " ERROR " in line or "Traceback" in line] == []


def test_the_planners_statistics_are_refreshed_once_the_database_has_enough_tickets(settings, monkeypatch):
    from models.base import db
    from tests.conftest import ingest

    ingest(settings, "new_question.eml")
    assert sweeper.refresh_statistics() is False  # one ticket: the planner's own guesses serve
    monkeypatch.setattr(sweeper, "STATISTICS_FROM", 1)
    assert sweeper.refresh_statistics() is True
    if settings.database.url.startswith("sqlite"):
        tables = {t for t, in db.execute_sql("SELECT tbl FROM sqlite_stat1")}
        assert {"ticket", "message"} <= tables


def test_a_job_costs_half_the_redis_round_trips_of_rqs_own_worker(settings, monkeypatch):
    """RQ renews the worker's heartbeat before and after each dequeue and after each job, and
    marks it idle twice; ours renews it at most once a second and does not repeat a state. Each
    round trip wakes Redis and the worker, which costs about as much as a short mail's work."""
    trips = []
    execute, execute_pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute
    monkeypatch.setattr(redis.Redis, "execute_command", lambda *a, **k: trips.append(1) or execute(*a, **k))
    monkeypatch.setattr(redis.client.Pipeline, "execute", lambda *a, **k: trips.append(1) or execute_pipeline(*a, **k))
    queue, connection = runtime.queue(settings), runtime.redis_connection(settings)
    per_job = {}
    for worker_class in (SimpleWorker, runner.Worker):
        for _ in range(20):
            queue.enqueue(outgoing.deliver, 999_999)  # no such row: skipped
        worker = worker_class([queue], connection=connection)
        trips.clear()
        worker.work(burst=True, logging_level="WARNING")
        per_job[worker_class] = len(trips) / 20
        assert queue.count == 0 and worker.last_heartbeat is not None
    assert per_job[runner.Worker] <= 10 < per_job[SimpleWorker] / 1.5, per_job
