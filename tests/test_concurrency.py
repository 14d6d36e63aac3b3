"""Guarantees under concurrent writers, on whichever database the suite runs (make test: both):
ticket numbers stay gap-free and unique, and several claimers never take the same outbox or
inbound row."""

from __future__ import annotations

import random
import threading
import time

import pytest

from models import dialect, inbound, outbox, tickets
from models.base import db
from models.tables import InboundMail, Outbox, Ticket
from tests import postgres

THREADS = 6


def run_together(work, count: int = THREADS) -> list:
    """`work(index)` in `count` threads started at once, each on its own connection; returns
    their results in order and re-raises the first failure."""
    start = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(index):
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: B036 (handed to the test's thread below)
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_parallel_creators_get_gap_free_unique_ticket_numbers(settings):
    """Every thread opens tickets at once from an empty counter (so the first number is raced
    for too); one creation in four rolls back, and gives its number back."""
    from models import customers

    mailbox = tickets.sync_mailbox(settings.mailboxes[0])
    customer = customers.find_or_create("alice@client.example")
    db.close()

    def create(index):
        kept = []
        for n in range(12):
            try:
                with db.atomic():
                    ticket = tickets.open_ticket(mailbox, customer, f"thread {index} ticket {n}", 1000)
                    if n % 4 == 3:
                        raise Rollback
                    kept.append(ticket.number)
            except Rollback:
                pass
        return kept

    numbers = [n for kept in run_together(create) for n in kept]
    assert len(numbers) == THREADS * 9
    assert sorted(numbers) == list(range(1000, 1000 + len(numbers)))  # unique, and no gap
    assert sorted(t.number for t in Ticket.select()) == sorted(numbers)


class Rollback(Exception):
    pass


def test_concurrent_claimers_never_send_the_same_outbox_row(settings):
    rows = outbox.queue(ticket=None, kind="test", mail_from="support@example.com", raw=b"x", message_id="<m@x>",
                        recipients=[f"c{i}@client.example" for i in range(120)])
    ids = [row.id for row in rows]
    db.close()

    def claim_all(index):
        order = ids[:]
        random.Random(index).shuffle(order)
        return [row.id for outbox_id in order if (row := outbox.claim(outbox_id)) is not None]

    claimed = [i for mine in run_together(claim_all) for i in mine]
    assert sorted(claimed) == sorted(ids)  # each row claimed exactly once
    assert {row.state for row in Outbox.select()} == {"sending"}


def test_concurrent_leases_never_hold_the_same_inbound_mail(settings):
    ids = inbound.store_many([inbound.Incoming(b"Subject: %d\r\n\r\nhi\r\n" % i, "smtp", f"<{i}@client.example>")
                              for i in range(120)])
    db.close()

    def lease_all(index):
        order = ids[:]
        random.Random(index).shuffle(order)
        taken = []
        for start in range(0, len(order), 10):  # in batches, as a worker's job leases them
            taken += list(inbound.lease_many(order[start:start + 10], 60, first_attempt_only=True))
        return taken

    leased = [i for mine in run_together(lease_all) for i in mine]
    assert sorted(leased) == sorted(ids)
    assert {row.attempts for row in InboundMail.select()} == {1}


@pytest.mark.skipif(not postgres.wanted(), reason="SQLite has one writer at a time: a batch in progress holds "
                                                  "the whole database, not rows, so there is nothing to skip")
def test_a_lease_passes_over_mail_a_batch_in_progress_holds_without_waiting(settings):
    """A worker's batch holds its rows until it commits (inbound.hold); another worker's lease
    skips them (FOR UPDATE SKIP LOCKED) instead of waiting for that batch to end."""
    assert dialect.skip_locked()
    ids = inbound.store_many([inbound.Incoming(b"Subject: %d\r\n\r\nhi\r\n" % i, "smtp", f"<{i}@client.example>")
                              for i in range(10)])
    db.close()
    holding, done = threading.Event(), threading.Event()

    def batch():
        with db.atomic():
            inbound.hold(ids[:5], 60)  # as pipeline.process_many does inside its transaction
            holding.set()
            done.wait(30)
        db.close()

    thread = threading.Thread(target=batch)
    thread.start()
    try:
        assert holding.wait(10)
        began = time.monotonic()
        taken = inbound.lease_many(ids, 60)
        waited = time.monotonic() - began
    finally:
        done.set()
        thread.join()
    assert sorted(taken) == ids[5:]
    assert waited < settings.database.busy_timeout_ms / 1000 / 2  # not the lock timeout


@pytest.mark.skipif(not postgres.wanted(), reason="SQLite's batch takes the one write lock before its first "
                                                  "mail: a lock lost half-way through a batch is PostgreSQL's case")
def test_a_mail_that_loses_a_lock_to_another_transaction_is_tried_again_after_its_batch(settings):
    """Two workers' batches can deadlock on PostgreSQL (the same mail arriving by two edges), or
    wait out lock_timeout; the database aborts one statement. That mail's writes are rolled
    back and it is tried again once its batch is committed: not a failed attempt."""
    from tests.conftest import load_eml
    from workers import processing

    def question(n: int) -> int:
        raw = load_eml("new_question.eml").replace(b"<new-question-1@client.example>", b"<q%d@client.example>" % n)
        return inbound.store_many([inbound.Incoming(raw, "smtp", f"<q{n}@client.example>",
                                                    rcpt_to=("support@example.com",))])[0]

    processing.process_inbound_batch([question(0)])  # ticket #1: the number counter's row exists
    first, second = question(1), question(2)
    db.close()
    blocker = postgres.connect(settings.database.url)  # another worker's transaction, holding the counter
    with blocker.cursor() as cursor:
        cursor.execute("SELECT value FROM counter WHERE name = 'ticket' FOR UPDATE")
    release = threading.Timer(settings.database.busy_timeout_ms / 1000 * 1.5, blocker.rollback)
    release.start()  # after the first mail's lock_timeout, before the second's
    try:
        outcomes = processing.process_inbound_batch([first, second])
    finally:
        release.join()
        blocker.close()
    assert outcomes == {"new_ticket": 2}
    assert sorted(t.number for t in Ticket.select()) == [1, 2, 3]
    assert [(r.state, r.attempts) for r in InboundMail.select().where(InboundMail.id.in_([first, second]))] == [
        ("processed", 1), ("processed", 1)]
