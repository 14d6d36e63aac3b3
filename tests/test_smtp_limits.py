"""The SMTP edge under careless and hostile clients: idle sessions, one greedy address, mail
at the size limit, the same mail without a Message-ID twice. Real sockets, real smtplib."""

import smtplib
import socket
import time

import pytest

from mailer.smtp_edge import make_controller
from models import migrations
from models.tables import InboundMail, Message, Ticket
from postdesk import runtime
from tests.conftest import free_port, load_eml, make_settings, run_worker


@pytest.fixture
def edge_with(tmp_path, redis_server):
    controllers = []

    def start(**smtp):
        settings = make_settings(tmp_path, redis_server, smtp=smtp)
        runtime.init(settings, check_schema=False)
        migrations.migrate()
        controller = make_controller(settings, host="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        return settings, controller
    yield start
    for controller in controllers:
        controller.stop()


def deliver(edge, raw: bytes, source: str = "127.0.0.1") -> tuple[int, bytes]:
    with smtplib.SMTP(edge.hostname, edge.port, timeout=10, source_address=(source, 0)) as smtp:
        smtp.ehlo()
        smtp.mail("alice@client.example")
        smtp.rcpt("support@example.com")
        return smtp.data(raw)


def greeting(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    return sock.recv(1024)


def test_an_idle_session_is_closed_with_421(edge_with):
    _, edge = edge_with(idle_timeout_seconds=1)
    with socket.create_connection((edge.hostname, edge.port)) as sock:
        assert greeting(sock).startswith(b"220")
        started = time.monotonic()
        sock.settimeout(10)
        closing = sock.recv(1024)
        assert closing.startswith(b"421") and time.monotonic() - started < 8
        assert sock.recv(1024) == b""  # and the connection is gone


def test_a_hundred_idle_connections_from_one_address_do_not_shut_out_others(edge_with):
    settings, edge = edge_with()  # the shipped defaults: 100 in all, 20 per client address
    assert settings.smtp.max_connections_per_client == 20
    hogs = []
    try:
        answers = []
        for _ in range(100):
            sock = socket.create_connection((edge.hostname, edge.port), source_address=("127.0.0.1", 0))
            hogs.append(sock)
            answers.append(greeting(sock)[:3])
        assert answers.count(b"220") == 20 and answers.count(b"421") == 80
        # Another client is served at once, while the greedy one still holds its twenty.
        code, _ = deliver(edge, load_eml("new_question.eml"), source="127.0.0.2")
        assert code == 250
    finally:
        for sock in hogs:
            sock.close()
    assert InboundMail.select().count() == 1


def test_mail_just_under_the_size_limit_is_accepted_and_becomes_a_ticket(edge_with):
    settings, edge = edge_with()
    head = load_eml("new_question.eml").replace(b"\n", b"\r\n")
    limit = settings.smtp.max_message_bytes
    line = b"x" * 70 + b"\r\n"
    raw = head + line * ((limit - len(head)) // len(line))
    raw += b"y" * (limit - len(raw) - 3) + b"\r\n"  # smtplib adds nothing: the mail is `limit`-1 bytes
    assert len(raw) == limit - 1
    code, _ = deliver(edge, raw)
    assert code == 250
    run_worker(settings)
    row = InboundMail.get()
    assert row.state == "processed" and row.outcome == "new_ticket", row.error
    assert Ticket.select().count() == 1


def test_mail_over_the_size_limit_is_refused_before_it_is_stored(edge_with):
    settings, edge = edge_with()
    raw = load_eml("new_question.eml") + (b"x" * 70 + b"\r\n") * (settings.smtp.max_message_bytes // 72)
    code, text = deliver(edge, raw)
    assert code == 552, text
    assert InboundMail.select().count() == 0


def test_the_same_mail_without_message_id_twice_makes_one_ticket(edge_with):
    settings, edge = edge_with()
    raw = load_eml("no_message_id.eml")
    assert deliver(edge, raw)[0] == 250
    time.sleep(1.1)  # our Received line now carries another second
    assert deliver(edge, raw)[0] == 250
    run_worker(settings)
    assert InboundMail.select().count() == 2
    assert Ticket.select().count() == 1 and Message.select().count() == 1
    assert sorted(r.outcome for r in InboundMail.select()) == ["duplicate", "new_ticket"]
