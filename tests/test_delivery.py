"""Outbox delivery through a real SMTP relay: one connection per batch, sent once, retried on 4xx
with backoff, dead on 5xx and re-sendable, suppressed for bounced and complaining addresses."""

import asyncio
import datetime as dt
import logging
import re
import socket
import ssl
import subprocess

import pytest
import time_machine
from aiosmtpd.controller import Controller

from models import customers, migrations, outbox
from models.base import db, utcnow
from models.tables import Customer, Outbox
from postdesk import cli, config, runtime
from tests.conftest import free_port, make_settings, run_worker
from workers import outgoing, sweeper


class Relay:
    """A relay that accepts mail, or answers as told: gone@ always 550, later@ always 451, and an
    address in `refusals` its listed answers first. It counts connections (one EHLO each), and
    drops the connection after the mails numbered in `drop_after`, as a restarting relay would."""

    def __init__(self):
        self.received = []
        self.rcpts = []  # every RCPT TO, refused or not
        self.refusals: dict[str, list[str]] = {}
        self.drop_after: set[int] = set()
        self.connections = 0
        self.on_data = None  # called as each mail arrives, before it is answered

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.rcpts.append(address)
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@"):
            return "451 4.7.1 greylisted, try later"
        if self.refusals.get(address):
            return self.refusals[address].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.on_data is not None:
            self.on_data()
        self.received.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        if len(self.received) in self.drop_after:
            asyncio.get_running_loop().call_soon(server.transport.close)  # once the 250 is on its way
        return "250 OK"

    def message_ids(self) -> list[bytes]:
        return [line for _, _, raw in self.received for line in raw.splitlines() if line.startswith(b"Message-ID:")]


@pytest.fixture
def start_relay(tmp_path, redis_server):
    """Start a Relay (`server` holds aiosmtpd's TLS options) and settings that send to it, with
    [outgoing] overrides; returns (settings, relay)."""
    controllers = []

    def start(server: dict | None = None, **outgoing):
        handler = Relay()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **(server or {}))
        controller.start()
        controllers.append(controller)
        settings = make_settings(tmp_path, redis_server, outgoing={
            "relay_host": "127.0.0.1", "relay_port": controller.port, "max_attempts": 3, **outgoing})
        runtime.init(settings, check_schema=False)
        migrations.migrate()
        return settings, handler
    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def relay(start_relay):
    return start_relay()


@pytest.fixture(scope="session")
def relay_certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, which is also the CA the client is told to trust."""
    folder = tmp_path_factory.mktemp("relay-tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    return str(folder / "cert.pem"), str(folder / "key.pem")


@pytest.fixture
def postdesk(relay):
    """`postdesk ARGS…` run in this process against the relay's settings, as an operator types it.
    The logging it sets up (levels of noisy libraries) is undone afterwards for the later tests."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    levels = [(logger, logger.level) for logger in loggers]
    yield lambda *argv: cli.main(["--config", relay[0].source, *argv])
    for logger, level in levels:
        logger.setLevel(level)


def queued(to: str, kind: str = "test") -> Outbox:
    message_id = f"<{to}-{utcnow().timestamp()}@example.com>"
    raw = f"From: support@example.com\r\nTo: {to}\r\nSubject: hi\r\nMessage-ID: {message_id}\r\n\r\nhello\r\n"
    [row] = outbox.queue(ticket=None, kind=kind, mail_from="support@example.com", recipients=[to],
                         raw=raw.encode(), message_id=message_id)
    return row


def make_due(row: Outbox) -> None:
    """The retry's time has come."""
    Outbox.update(next_attempt_at=utcnow()).where(Outbox.id == row.id).execute()


def test_delivered_once_even_when_the_job_runs_twice(relay):
    settings, handler = relay
    row = queued("alice@client.example")
    assert outgoing.deliver(row.id) == "sent"
    assert outgoing.deliver(row.id) == "skipped"
    assert len(handler.received) == 1 and Outbox.get_by_id(row.id).state == "sent"


def test_temporary_refusal_is_retried_later_with_backoff(relay):
    settings, handler = relay
    row = queued("later@client.example")
    assert outgoing.deliver(row.id) == "failed"
    row = Outbox.get_by_id(row.id)
    assert row.attempts == 1 and "451" in row.last_error
    # retry_base_seconds = 60, lengthened by up to half at random
    assert utcnow() + dt.timedelta(seconds=55) < row.next_attempt_at < utcnow() + dt.timedelta(seconds=91)
    assert row.id not in outbox.due_ids()  # not due yet
    make_due(row)
    assert row.id in outbox.due_ids()


def test_permanent_refusal_is_dead_at_once(relay):
    settings, handler = relay
    row = queued("gone@client.example")
    assert outgoing.deliver(row.id) == "dead"
    assert "550" in Outbox.get_by_id(row.id).last_error
    assert outbox.resend(row.id) and Outbox.get_by_id(row.id).state == "pending"


def test_gives_up_after_max_attempts(relay):
    settings, handler = relay
    row = queued("later@client.example")
    states = []
    for _ in range(3):
        make_due(row)
        states.append(outgoing.deliver(row.id))
    assert states == ["failed", "failed", "dead"]
    assert Outbox.get_by_id(row.id).last_error.startswith("gave up after 3 attempts: 451 4.7.1 greylisted")


def test_relay_down_is_a_temporary_failure(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server, outgoing={"relay_host": "127.0.0.1",
                                                               "relay_port": free_port()})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    row = queued("alice@client.example")
    assert outgoing.deliver(row.id) == "failed"
    assert "ConnectionRefused" in Outbox.get_by_id(row.id).last_error


def test_delivery_interrupted_mid_send_is_retried(relay):
    settings, handler = relay
    row = queued("alice@client.example")
    assert outbox.claim(row.id) is not None  # a worker took it and crashed
    assert row.id not in outbox.due_ids()
    Outbox.update(next_attempt_at=utcnow() - outbox.STUCK_AFTER).where(Outbox.id == row.id).execute()
    assert row.id in outbox.due_ids()
    assert outgoing.deliver(row.id) == "sent"


def test_a_mail_to_two_recipients_is_two_rows_and_one_bounce_affects_only_its_own(relay):
    settings, handler = relay
    raw = b"From: support@example.com\r\nTo: a@client.example, gone@client.example\r\nSubject: hi\r\n\r\nhi\r\n"
    good, gone = outbox.queue(ticket=None, kind="test", mail_from="support@example.com",
                              recipients=["a@client.example", "gone@client.example"], raw=raw,
                              message_id="<two-recipients@example.com>")
    assert good.message_id == gone.message_id  # one mail, so clients show it once
    assert outgoing.deliver(gone.id) == "dead"
    assert outgoing.deliver(good.id) == "sent"
    assert [rcpts for _, rcpts, _ in handler.received] == [["a@client.example"]]


def test_a_mail_refused_twice_with_451_is_sent_on_the_third_attempt(relay):
    settings, handler = relay
    handler.refusals["slow@client.example"] = ["451 4.7.1 greylisted, try later"] * 2
    row = queued("slow@client.example")
    states, waits = [], []
    for _ in range(3):
        make_due(row)
        before = utcnow()
        states.append(outgoing.deliver(row.id))
        waits.append(Outbox.get_by_id(row.id).next_attempt_at - before)
    assert states == ["failed", "failed", "sent"]
    assert dt.timedelta(seconds=60) <= waits[0] < dt.timedelta(seconds=91)  # backoff, plus jitter
    assert dt.timedelta(seconds=120) <= waits[1] < dt.timedelta(seconds=181)
    row = Outbox.get_by_id(row.id)
    assert (row.attempts, row.last_error) == (3, "") and len(handler.received) == 1


def test_retry_delay_doubles_up_to_the_cap_and_adds_up_to_half_at_random():
    assert [outbox.retry_delay(n, 60, 0).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert outbox.retry_delay(1, 60, 0.999).total_seconds() == pytest.approx(89.97)
    assert outbox.retry_delay(30, 60, 0) == outbox.MAX_BACKOFF


def test_a_dead_mail_is_resent_from_the_command_line_with_its_message_id(relay, postdesk, capsys):
    settings, handler = relay
    handler.refusals["moved@client.example"] = ["550 5.7.1 relaying denied"]  # until the operator mends it
    row = queued("moved@client.example")
    assert outgoing.deliver(row.id) == "dead"
    assert postdesk("outbox", "list", "--state", "dead") == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.split()[0] == str(row.id)]
    assert line.split()[1:5] == ["dead", "test", "moved@client.example", "1"] and "550 5.7.1 relaying denied" in line

    assert postdesk("outbox", "resend", str(row.id)) == 0
    run_worker(settings)
    assert Outbox.get_by_id(row.id).state == "sent"
    assert handler.rcpts == ["moved@client.example"] * 2  # offered twice: refused, then taken
    assert handler.message_ids() == [f"Message-ID: {row.message_id}".encode()]  # delivered once, as stored

    assert postdesk("outbox", "resend", str(row.id), "999999") == 1
    err = capsys.readouterr().err
    assert f"outbox {row.id}: is sent, not dead or failed" in err and "outbox 999999: no such mail" in err


def test_a_batch_job_run_twice_sends_each_mail_once(relay):
    settings, handler = relay
    ids = [queued(f"c{i}@client.example").id for i in range(3)]
    assert outgoing.deliver_batch(ids) == {"sent": 3}
    assert outgoing.deliver_batch(ids) == {"skipped": 3}  # and opens no connection
    assert len(handler.received) == 3 and handler.connections == 1


def test_a_batch_has_one_mail_in_flight_at_a_time_and_one_transaction_per_mail(relay, monkeypatch):
    """A crash mid-batch can leave only the mail being sent unmarked; and a sent mail's mark and
    the next mail's claim share a transaction (on SQLite each one waits for the write lock)."""
    settings, handler = relay
    rows = [queued(f"c{i}@client.example") for i in range(5)]
    in_flight = []
    handler.on_data = lambda: in_flight.append(
        [r.id for r in Outbox.select(Outbox.id).where(Outbox.state == "sending")])
    begins = []
    begin = db.obj.begin
    monkeypatch.setattr(db.obj, "begin", lambda *args: begins.append(1) or begin(*args))
    assert outgoing.deliver_batch([r.id for r in rows]) == {"sent": 5}
    assert in_flight == [[r.id] for r in rows]
    assert len(begins) == len(rows) + 1
    assert all(Outbox.get_by_id(r.id).state == "sent" for r in rows)


def test_a_batch_of_fifty_mails_goes_over_one_connection_refusals_and_all(relay):
    settings, handler = relay
    addresses = [f"c{i}@client.example" for i in range(48)]
    addresses[20:20] = ["gone@client.example", "later@client.example"]  # RSET after each, same connection
    ids = [queued(address).id for address in addresses]
    assert outgoing.deliver_batch(ids) == {"sent": 48, "dead": 1, "failed": 1}
    assert handler.connections == 1 and len(handler.received) == 48


def test_a_connection_dropped_mid_batch_is_reopened_for_the_rest(relay):
    settings, handler = relay
    handler.drop_after = {20}
    ids = [queued(f"c{i}@client.example").id for i in range(50)]
    assert outgoing.deliver_batch(ids) == {"sent": 50}
    assert handler.connections == 2 and len(set(handler.message_ids())) == len(handler.received) == 50


def test_a_connection_dropped_again_leaves_the_rest_of_the_batch_to_its_retry(relay):
    settings, handler = relay
    handler.drop_after = {1, 2}
    rows = [queued(f"c{i}@client.example") for i in range(5)]
    assert outgoing.deliver_batch([r.id for r in rows]) == {"sent": 2, "failed": 3}
    errors = [Outbox.get_by_id(r.id).last_error for r in rows[2:]]
    assert errors[0].startswith("connection lost: SMTPServerDisconnected")
    assert all(e.startswith("not tried: the relay failed twice in this batch") for e in errors[1:])
    assert handler.connections == 2  # no third try within the job
    for row in rows:
        make_due(row)
    assert outgoing.deliver_batch([r.id for r in rows]) == {"sent": 3, "skipped": 2}
    assert len(handler.received) == 5


def test_a_relay_that_never_answers_times_out_as_a_temporary_failure(tmp_path, redis_server):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = make_settings(tmp_path, redis_server, outgoing={
            "relay_host": "127.0.0.1", "relay_port": silent.getsockname()[1], "timeout_seconds": 1})
        runtime.init(settings, check_schema=False)
        migrations.migrate()
        row = queued("alice@client.example")
        assert outgoing.deliver(row.id) == "failed"
    assert "timed out" in Outbox.get_by_id(row.id).last_error


@pytest.mark.parametrize("mode", ["implicit_tls", "starttls"])
def test_the_relay_is_reached_over_tls_with_its_certificate_checked(start_relay, relay_certificate, mode):
    cert, key = relay_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = {"ssl_context": context} if mode == "implicit_tls" else {"tls_context": context, "require_starttls": True}
    settings, handler = start_relay(server, **{mode: True})  # the system's CAs do not know the test CA
    row = queued("alice@client.example")
    assert outgoing.deliver(row.id) == "failed" and not handler.received
    assert "CERTIFICATE_VERIFY_FAILED" in Outbox.get_by_id(row.id).last_error
    settings, handler = start_relay(server, **{mode: True, "tls_ca_file": cert})
    row = queued("bob@client.example")
    assert outgoing.deliver(row.id) == "sent" and len(handler.received) == 1


def test_starttls_and_implicit_tls_together_are_a_configuration_error():
    with pytest.raises(config.ConfigError, match="outgoing.implicit_tls: starttls and implicit_tls exclude"):
        config.from_dict({"outgoing": {"starttls": True, "implicit_tls": True}})


def test_bounced_and_complaining_addresses_are_skipped_when_sending(relay):
    settings, handler = relay
    Customer.create(email="bounced@client.example", bounce_state="permanent")
    Customer.create(email="angry@client.example", bounce_state="complained")
    acks = [queued(a, kind="acknowledgement") for a in ("bounced@client.example", "angry@client.example")]
    reply = queued("angry@client.example", kind="agent_reply")
    assert outgoing.deliver_batch([r.id for r in [*acks, reply]]) == {"dead": 2, "sent": 1}
    bounced, angry = (Outbox.get_by_id(r.id).last_error for r in acks)
    assert bounced == "suppressed: bounced@client.example bounced permanently"
    assert angry.startswith("suppressed: angry@client.example complained")
    assert handler.rcpts == ["angry@client.example"]  # only the agent's answer went out


@pytest.mark.parametrize(("state", "kind", "suppressed"), [
    ("", "acknowledgement", False), ("temporary", "survey", False),
    ("permanent", "agent_reply", True), ("permanent", "acknowledgement", True),
    ("complained", "agent_reply", False), ("complained", "acknowledgement", True),
    ("complained", "status_update", True), ("complained", "progress_update", True), ("complained", "survey", True),
])
def test_suppression_rule(settings, state, kind, suppressed):
    Customer.create(email="c@client.example", bounce_state=state)
    assert bool(customers.suppression_reason("C@Client.example", kind)) is suppressed
    assert customers.suppression_reason("stranger@client.example", kind) == ""


def test_a_delivery_whose_job_redis_lost_is_enqueued_again_by_the_sweep(relay):
    settings, handler = relay
    row = queued("alice@client.example")
    outgoing.enqueue_deliveries(settings, [row.id])
    runtime.redis_connection(settings).flushall()  # Redis restarted without its data
    assert sweeper.sweep()["outbox"] == 0  # too fresh: its job may still be on the way
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.worker.stale_after_seconds + 1)
    with time_machine.travel(later):
        assert sweeper.sweep()["outbox"] == 1
    run_worker(settings)
    assert Outbox.get_by_id(row.id).state == "sent" and len(handler.received) == 1


def test_a_text_mail_is_folded_encoded_and_cannot_have_headers_injected():
    import email
    import email.policy

    from mailer import compose

    raw = compose.build(sender_name="客服中心", sender="zh@example.cn", to="a@client.example",
                        subject="[#1] 无法登录\r\nBcc: victim@example.com", text="你好\n" + "x" * 1200,
                        message_id="<m@example.cn>", references=tuple(f"<r{i}@example.com>" for i in range(9)))
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Bcc"] is None and str(mail["Subject"]) == "[#1] 无法登录 Bcc: victim@example.com"
    assert (mail["From"].addresses[0].display_name, mail.get_content()) == ("客服中心", "你好\n" + "x" * 1200)
    assert mail["References"].split() == [f"<r{i}@example.com>" for i in range(9)]


def _lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n")


def test_a_reply_with_an_attachment_and_a_long_link_keeps_every_line_within_998_octets():
    import email
    import email.policy
    from types import SimpleNamespace

    from mailer import compose

    link = "https://files.example.com/download?sig=" + "A1b2" * 300  # a signed download link, one line
    text = f"Here is the invoice; the full log is at\n{link}\n"
    invoice = SimpleNamespace(filename="发票 2026-12.pdf", content_type="application/pdf", data=b"%PDF-1.4" * 50)
    raw = compose.build(sender_name="Example Support", sender="support@example.com", to="a@client.example",
                        subject="[#1] Invoice", text=text, html=f"<p>{link}</p>", message_id="<m@example.com>",
                        attachments=(invoice,))
    assert max(len(line) for line in _lines(raw)) <= 998  # a relay takes it (RFC 5322 2.1.1)
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail.get_body(("plain",)).get_content() == text and link in mail.get_body(("html",)).get_content()
    [attached] = list(mail.iter_attachments())
    assert (attached.get_filename(), attached.get_content()) == ("发票 2026-12.pdf", b"%PDF-1.4" * 50)


def test_an_internationalised_address_is_written_as_it_is_and_encoded_words_keep_to_75_characters():
    import email
    import email.policy

    from mailer import compose

    raw = compose.build(sender_name="Example Support", sender="support@example.com", to="张三@例子.中国",
                        cc=("李四@例子.中国",), subject="关于发票的问题，" * 8, text="你好",
                        message_id="<m@example.com>")
    mail = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)  # UTF-8 headers (RFC 6532)
    assert [a.addr_spec for a in mail["To"].addresses + mail["Cc"].addresses] == ["张三@例子.中国", "李四@例子.中国"]
    assert str(mail["Subject"]) == "关于发票的问题，" * 8
    words = re.findall(rb"=\?utf-8\?[bq]\?[^?]*\?=", raw, re.I)
    assert words and max(len(word) for word in words) <= 75  # RFC 2047 section 2


def test_an_agents_own_signature_line_reaches_the_html_part_too():
    from mailer import compose

    text = "Fixed.\n-- \nAgnes, second line support\n\n-- \nExample Support Team\n"
    page = compose._paragraphs(text, "Example Support Team")  # the HTML body (the layout adds the mailbox's)
    assert "Agnes, second line support" in page and "Example Support Team" not in page
    assert "Example Support Team" in compose._paragraphs(text)  # a mailbox without one: nothing cut


def test_a_long_file_name_and_a_subject_without_spaces_keep_every_line_short():
    import email
    import email.policy
    from types import SimpleNamespace

    from mailer import compose, parsing

    name = "关于二〇二六年十二月的发票与合同的补充说明" * 5 + ".pdf"  # 111 characters, 300 octets as UTF-8
    raw = compose.build(sender_name="Example Support", sender="support@example.com", to="a@client.example",
                        subject="x" * 1500, text="See attached.", message_id="<m@example.com>",
                        attachments=(SimpleNamespace(filename=name, content_type="application/pdf", data=b"%PDF"),))
    assert max(len(line) for line in _lines(raw)) <= 998
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert [a.get_filename() for a in mail.iter_attachments()] == [name] and str(mail["Subject"]) == "x" * 1500
    assert [a.filename for a in parsing.parse(raw).attachments] == [name]  # and ours reads it back
