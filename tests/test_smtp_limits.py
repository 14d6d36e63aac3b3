"""The SMTP edge under careless and hostile clients: idle sessions, one greedy address, mail
at the size limit, the same mail without a Message-ID twice. Real sockets, real smtplib."""

import smtplib
import socket
import time

import pytest

from models.tables import InboundMail, Message, Ticket
from tests.conftest import load_eml, run_worker, sent_mail


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


def hostile_mails() -> dict[str, bytes]:
    """Mail that got 250 and then never became a ticket (issue: "a 250 always ends on a ticket")."""
    from tests.test_hostile_mail import nested
    head = b"From: Alice <alice@client.example>\r\nTo: support@example.com\r\nSubject: hostile\r\n"
    mails = {name: load_eml(name) for name in (
        "hostile_raw_8bit_filenames.eml", "hostile_charset_not_a_charset.eml",
        "hostile_nul_in_charset.eml", "hostile_nested_comments.eml", "hostile_utf7_html.eml")}
    mails["multipart nested 1,000 deep"] = nested("multipart", 1000)
    mails["message/rfc822 nested 1,000 deep"] = nested("message", 1000)
    mails["From with 1,200 nested parentheses"] = (
        b"From: " + b"(" * 1200 + b"x" + b")" * 1200 + b" alice@client.example\r\n" + head[head.index(b"To:"):]
        + b"\r\nHello\r\n")
    mails["2 MB To header"] = head + b"Cc: " + b"a@b.example, " * 170_000 + b"\r\n\r\nHello\r\n"
    return mails


def fold(raw: bytes, width: int = 900) -> bytes:
    """Header lines folded as a client must to stay under SMTP's 1,000-byte line limit (RFC 5322
    §2.2.3: a line break before white space; inside comments and between addresses it is CFWS)."""
    head, sep, body = raw.partition(b"\n\n")
    lines = []
    for line in head.split(b"\n"):
        while len(line) > width:
            lines.append(line[:width])
            line = b" " + line[width:]
        lines.append(line)
    return b"\n".join(lines) + sep + body


@pytest.mark.parametrize("name", list(hostile_mails()))
def test_hostile_mail_that_got_250_becomes_a_ticket_with_an_acknowledgement(edge_with, name):
    settings, edge = edge_with(max_message_bytes=4_000_000)
    raw = fold(hostile_mails()[name].replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    assert deliver(edge, raw)[0] == 250
    run_worker(settings)
    row = InboundMail.get()
    assert (row.state, row.outcome) == ("processed", "new_ticket"), row.error
    assert Ticket.select().count() == 1 and len(sent_mail(settings)) == 1
