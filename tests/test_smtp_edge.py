"""The SMTP edge, over a real socket: refuse strangers and oversize mail, 250 only once stored."""

import random
import smtplib
import threading
import time

import pytest
from aiosmtpd.smtp import SMTP

from mailer import spool
from mailer.smtp_edge import _PLAIN_PATH, LimitedSMTP, make_controller
from models import migrations
from models.tables import InboundMail, Ticket
from postdesk import embedded_redis, runtime
from tests.conftest import database_locked, free_port, load_eml, make_settings, run_worker, sent_mail
from workers import sweeper


@pytest.fixture
def edge(settings):
    controller = make_controller(settings, host="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def client(controller) -> smtplib.SMTP:
    return smtplib.SMTP(controller.hostname, controller.port, timeout=10)


def test_accepted_mail_is_stored_before_250_and_becomes_a_ticket(settings, edge):
    raw = load_eml("new_question.eml").replace(b"\n", b"\r\n")  # on the wire, lines end in CRLF
    with client(edge) as smtp:
        code, text = smtp.ehlo()
        assert code == 250
        smtp.mail("alice@client.example")
        smtp.rcpt("support@example.com")
        code, text = smtp.data(raw)
    assert code == 250 and b"queued as" in text
    row = InboundMail.get()  # committed by the time 250 was answered
    assert row.source == "smtp" and row.rcpt_to == "support@example.com"
    assert bytes(row.raw) == raw  # byte-exact, with our Received line kept beside it
    assert row.trace.startswith("Received: from ") and "(Postdesk)" in row.trace
    run_worker(settings)
    assert Ticket.get().number == 1 and len(sent_mail(settings)) == 1


def test_plus_addressed_mailbox_is_accepted(edge):
    with client(edge) as smtp:
        smtp.ehlo()
        smtp.mail("alice@client.example")
        assert smtp.rcpt("Support+Billing@Example.com")[0] == 250


def test_unknown_recipient_is_refused_at_rcpt(edge):
    with client(edge) as smtp:
        smtp.ehlo()
        smtp.mail("alice@client.example")
        code, text = smtp.rcpt("sales@example.com")
    assert code == 550 and text.startswith(b"5.1.1")
    assert InboundMail.select().count() == 0


def test_oversize_mail_is_refused_with_552_and_nothing_is_stored(settings, edge):
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
    big = load_eml("new_question.eml") + line * (settings.smtp.max_message_bytes // len(line) + 1)
    with client(edge) as smtp:
        smtp.ehlo()
        smtp.mail("alice@client.example")  # no SIZE parameter: the limit is enforced at DATA
        smtp.rcpt("support@example.com")
        code, _ = smtp.data(big)
    assert code == 552
    with client(edge) as smtp:  # a client that declares SIZE is refused up front
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            smtp.sendmail("alice@client.example", ["support@example.com"], big)
    assert err.value.smtp_code == 552
    assert InboundMail.select().count() == 0


def test_storage_failure_answers_451_so_the_sender_retries(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server, database={"busy_timeout_ms": 200})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    controller = make_controller(settings, host="127.0.0.1", port=free_port())
    controller.start()
    try:
        with database_locked(settings), client(controller) as smtp:  # the database cannot take a write
            smtp.ehlo()
            smtp.mail("alice@client.example")
            smtp.rcpt("support@example.com")
            code, text = smtp.data(load_eml("new_question.eml"))
    finally:
        controller.stop()
    assert code == 451 and b"try again later" in text
    assert InboundMail.select().count() == 0


def test_a_session_waiting_for_the_database_keeps_no_other_session_waiting(settings, edge):
    """While a worker holds the database's write lock, a mail waits for it before its 250; the
    other sessions are answered meanwhile (on SQLite the edge asks for the lock again and again
    from its event loop, never blocking in it), and the waiting mail is stored once it is free."""
    sent = {}

    def alice():
        with client(edge) as smtp:
            sent["alice"] = smtp.sendmail("alice@client.example", ["support@example.com"],
                                          load_eml("new_question.eml"))

    with database_locked(settings):
        waiting = threading.Thread(target=alice)
        waiting.start()
        time.sleep(0.5)  # alice's DATA now waits for the lock (the test holds for longer if not)
        with client(edge) as smtp:
            assert smtp.ehlo()[0] == 250
            assert smtp.mail("bob@client.example")[0] == 250
            assert smtp.rcpt("support@example.com")[0] == 250
            smtp.rset()
        answered_while_locked = waiting.is_alive()
    waiting.join(timeout=10)
    assert answered_while_locked and sent["alice"] == {}
    assert InboundMail.select().count() == 1


def test_large_and_small_mails_sent_together_are_each_stored_byte_for_byte(settings, edge, monkeypatch):
    """Large mails (256 KiB or more; here 64 KiB, under the tests' size limit) are written beside
    the event loop, the others in it."""
    monkeypatch.setattr(spool.LoopCommitter, "INLINE_MAX_BYTES", 64 * 1024)
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
    small = load_eml("new_question.eml").replace(b"\n", b"\r\n")
    large = small.replace(b"Message-ID: <", b"Message-ID: <large-") + line * (100 * 1024 // len(line))
    mails = [large, small, large.replace(b"<large-", b"<large2-"), small.replace(b"Message-ID: <", b"Message-ID: <s2-")]

    def send(raw):
        with client(edge) as smtp:
            smtp.sendmail("alice@client.example", ["support@example.com"], raw)

    threads = [threading.Thread(target=send, args=(raw,)) for raw in mails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(bytes(row.raw) for row in InboundMail.select()) == sorted(mails)


def test_redis_down_at_receive_time_loses_nothing(tmp_path):
    port = free_port()
    settings = make_settings(tmp_path, f"redis://127.0.0.1:{port}/0", worker={"stale_after_seconds": 0})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    controller = make_controller(settings, host="127.0.0.1", port=free_port())
    controller.start()
    try:
        with client(controller) as smtp:
            refused = smtp.sendmail("alice@client.example", ["support@example.com"],
                                    load_eml("new_question.eml"))
    finally:
        controller.stop()
    assert refused == {}  # 250: the mail is safe in the database although Redis is down
    assert InboundMail.get().state == "received"

    redis = embedded_redis.start(tmp_path / "redis-back", port=port)  # Redis comes back
    try:
        assert sweeper.sweep() == {"inbound": 1, "outbox": 0}
        run_worker(settings)
        assert InboundMail.get().state == "processed" and Ticket.select().count() == 1
        assert len(sent_mail(settings)) == 1
        assert sweeper.sweep() == {"inbound": 0, "outbox": 0}  # nothing is processed twice
    finally:
        embedded_redis.stop(redis)


def test_concurrent_sessions_are_each_stored_before_their_250(settings, edge):
    import threading

    results, base = {}, load_eml("new_question.eml")

    def send(n):
        raw = base.replace(b"<new-question-1@", f"<concurrent-{n}@".encode())
        with client(edge) as smtp:
            smtp.ehlo()
            smtp.mail("alice@client.example")
            smtp.rcpt("support@example.com")
            results[n] = smtp.data(raw)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in results.values()) == [250] * 12
    queued = {int(text.rsplit(b" ", 1)[1]) for _, text in results.values()}
    stored = {row.id: row.message_id for row in InboundMail.select()}
    assert queued == set(stored) and len(set(stored.values())) == 12  # each its own row


def test_plain_paths_read_as_aiosmtpd_reads_them():
    """MAIL FROM and RCPT TO paths of the plain form are read by a regex instead of aiosmtpd's
    header parser: on every path it takes, the address and parameters must be aiosmtpd's."""
    rng = random.Random(7)
    edge = object.__new__(LimitedSMTP)  # _getaddr reads only local_part_limit
    locals_ = ["a", "A.b+c", "x_y-z", "o'brien", "a..b", ".a", "a.", '"q"', "a b", "ä", "", "a(c)", "x" * 70]
    domains = ["b.example", "B-x.EXAMPLE", "b..c", "b.", "-b", "[1.2.3.4]", "b(c)", "例子.example", "b_c.example"]
    tails = ["", " SIZE=100", "SIZE=1", "  BODY=8BITMIME SMTPUTF8", " (comment)", "\t(c) SIZE=1", ">", " x (y)"]
    junk = "aZ09.!#$%&'*+/=?^_`{|}~-@<>\"(),;:\\ \t[]例"
    taken = 0
    for _ in range(20_000):
        if rng.random() < 0.85:
            arg = (rng.choice(["", " "]) + "<" + rng.choice(["", "@r.example:"]) + rng.choice(locals_) + "@"
                   + rng.choice(domains) + ">" + rng.choice(tails))
        else:
            arg = "".join(rng.choice(junk) for _ in range(rng.randrange(1, 30)))
        for limit in (0, 64):
            edge.local_part_limit = limit
            assert read(LimitedSMTP._getaddr, edge, arg) == read(SMTP._getaddr, edge, arg), arg
        taken += _PLAIN_PATH.fullmatch(arg) is not None
    assert taken > 400  # the common shapes were among them
    assert _PLAIN_PATH.fullmatch("<alice.liddell+desk@client-1.example> SIZE=2048 BODY=8BITMIME")


def read(getaddr, edge, arg):
    try:
        return getaddr(edge, arg)
    except Exception as exc:  # the email package raises more than HeaderParseError on some junk
        return type(exc)
