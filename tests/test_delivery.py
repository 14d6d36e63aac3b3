"""Outbox delivery through a real SMTP relay: sent once, retried on 4xx, dead on 5xx."""

import datetime as dt

import pytest
from aiosmtpd.controller import Controller

from models import outbox
from models.base import utcnow
from models.tables import Outbox
from postdesk import runtime
from tests.conftest import free_port, make_settings
from workers import outgoing


class Relay:
    """A relay that accepts mail, or answers a fixed code for some recipients."""

    def __init__(self):
        self.received = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("later@"):
            return "451 4.7.1 greylisted, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def relay(tmp_path, redis_server):
    handler = Relay()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = make_settings(tmp_path, redis_server, outgoing={
        "relay_host": "127.0.0.1", "relay_port": controller.port, "max_attempts": 3})
    from models import migrations
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    yield settings, handler
    controller.stop()


def queued(to: str) -> Outbox:
    raw = f"From: support@example.com\r\nTo: {to}\r\nSubject: hi\r\n\r\nhello\r\n".encode()
    [row] = outbox.queue(ticket=None, kind="test", mail_from="support@example.com", recipients=[to],
                         raw=raw, message_id=f"<{to}-{utcnow().timestamp()}@example.com>")
    return row


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
    assert row.next_attempt_at > utcnow() + dt.timedelta(seconds=50)
    assert row.id not in outbox.due_ids()  # not due yet
    Outbox.update(next_attempt_at=utcnow()).where(Outbox.id == row.id).execute()
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
        Outbox.update(next_attempt_at=utcnow()).where(Outbox.id == row.id).execute()
        states.append(outgoing.deliver(row.id))
    assert states == ["failed", "failed", "dead"]


def test_relay_down_is_a_temporary_failure(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server, outgoing={"relay_host": "127.0.0.1",
                                                               "relay_port": free_port()})
    from models import migrations
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
