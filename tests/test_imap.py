"""The IMAP edge against a real Dovecot: UID checkpoints, store-then-flag, IDLE, one poller."""

import threading
import time
import uuid

import pytest
from imapclient import IMAPClient

from mailer import imap_edge
from models import inbound
from models.tables import ImapCheckpoint, InboundMail, Message, Ticket
from postdesk import config
from tests.conftest import free_port, load_eml, make_settings, run_worker


@pytest.fixture
def account_settings(tmp_path, redis_server, dovecot):
    """Settings with one IMAP account whose mailbox on Dovecot is new and empty."""
    from models import migrations
    from postdesk import runtime

    def build(**overrides):
        fields = {"name": "main", "host": dovecot["host"], "port": dovecot["port"], "ssl": False,
                  "username": f"support-{uuid.uuid4().hex[:8]}", "password": "secret",
                  "mailbox": "support@example.com", "poll_seconds": 2, "timeout_seconds": 10}
        fields.update(overrides)
        settings = make_settings(tmp_path, redis_server, imap=[fields])
        runtime.init(settings, check_schema=False)
        migrations.migrate()
        return settings
    return build


def server(settings) -> IMAPClient:
    """A second, independent client: what a person with a mail program would see."""
    account = settings.imap[0]
    client = IMAPClient(account.host, account.port, ssl=False)
    client.login(account.username, "secret")
    return client


def test_new_mail_is_stored_flagged_and_becomes_a_ticket_without_touching_seen(account_settings):
    settings = account_settings()
    person = server(settings)
    person.append("INBOX", load_eml("new_question.eml"))
    poller = imap_edge.Poller(settings, settings.imap[0])
    client = imap_edge.connect(settings.imap[0])
    assert poller.sync(client) == 1
    row = InboundMail.get()
    assert (row.source, row.imap_uid, row.rcpt_to) == ("imap", 1, "support@example.com")
    assert ImapCheckpoint.get().last_uid == 1
    person.select_folder("INBOX")
    flags = person.get_flags([1])[1]
    assert imap_edge.STORED_FLAG in flags and b"\\Seen" not in flags
    assert poller.sync(client) == 0  # nothing new: nothing stored twice
    run_worker(settings)
    assert Ticket.get().subject == "Cannot log in to my account"


def test_move_to_folder_after_storing(account_settings):
    settings = account_settings(move_to="Postdesk")
    person = server(settings)
    person.create_folder("Postdesk")
    for name in ("new_question.eml", "no_message_id.eml"):
        person.append("INBOX", load_eml(name))
    assert imap_edge.Poller(settings, settings.imap[0]).sync(imap_edge.connect(settings.imap[0])) == 2
    assert person.select_folder("INBOX")[b"EXISTS"] == 0
    assert person.select_folder("Postdesk")[b"EXISTS"] == 2


def test_new_uidvalidity_rescans_without_duplicating_tickets(account_settings):
    settings = account_settings(folder="Support")
    person = server(settings)
    person.create_folder("Support")
    person.append("Support", load_eml("new_question.eml"))
    poller = imap_edge.Poller(settings, settings.imap[0])
    assert poller.sync(imap_edge.connect(settings.imap[0])) == 1
    run_worker(settings)
    person.delete_folder("Support")  # the folder is rebuilt: UIDs start again
    person.create_folder("Support")
    person.append("Support", load_eml("new_question.eml"))
    person.append("Support", load_eml("no_message_id.eml"))
    assert poller.sync(imap_edge.connect(settings.imap[0])) == 2
    run_worker(settings)
    assert Message.select().count() == 2 and Ticket.select().count() == 2


def test_oversize_mail_is_refused_and_left_on_the_server(account_settings):
    settings = account_settings(move_to="Postdesk")
    person = server(settings)
    person.create_folder("Postdesk")
    person.append("INBOX", load_eml("new_question.eml") + b"x" * (settings.smtp.max_message_bytes + 1))
    assert imap_edge.Poller(settings, settings.imap[0]).sync(imap_edge.connect(settings.imap[0])) == 1
    row = InboundMail.get()
    assert row.state == "rejected" and "over the" in row.error and bytes(row.raw) == b""
    person.select_folder("INBOX")
    assert imap_edge.TOO_BIG_FLAG in person.get_flags([1])[1]  # still in INBOX, marked


def run_poller(poller, seconds):
    thread = threading.Thread(target=poller.run)
    thread.start()
    return thread


def wait_until(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_idle_picks_up_new_mail_and_reconnects_after_a_failure(account_settings):
    settings = account_settings(poll_seconds=30)  # only IDLE can make this fast
    attempts = []

    def flaky_connect(account):
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise ConnectionRefusedError("server restarting")
        return imap_edge.connect(account)

    stop = threading.Event()
    poller = imap_edge.Poller(settings, settings.imap[0], stop, connector=flaky_connect)
    thread = run_poller(poller, 0)
    try:
        assert wait_until(lambda: len(attempts) >= 2)
        time.sleep(0.5)
        server(settings).append("INBOX", load_eml("new_question.eml"))
        assert wait_until(lambda: InboundMail.select().count() == 1), "IDLE did not deliver the mail"
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert attempts[1] - attempts[0] >= 0.9  # backed off before reconnecting


def test_only_one_poller_per_account(account_settings):
    settings = account_settings(poll_seconds=1, use_idle=False)
    person = server(settings)
    for i in range(5):
        person.append("INBOX", load_eml("new_question.eml").replace(b"new-question-1@", f"q{i}@".encode()))
    stop = threading.Event()
    pollers = [imap_edge.Poller(settings, settings.imap[0], stop) for _ in range(2)]
    threads = [run_poller(p, 0) for p in pollers]
    try:
        assert wait_until(lambda: InboundMail.select().count() >= 5)
        time.sleep(2.5)  # give a second poller every chance to store something twice
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert InboundMail.select().count() == 5
    assert sorted(r.imap_uid for r in InboundMail.select()) == [1, 2, 3, 4, 5]


def test_imap_password_may_come_from_the_environment(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[[mailboxes]]\naddress = "support@example.com"\n'
                    '[[imap]]\nname = "main"\nhost = "imap.example.com"\nusername = "support"\n')
    settings = config.load(path, environ={"POSTDESK_IMAP_PASSWORD_MAIN": "from-env"})
    assert settings.imap[0].password == "from-env"


def test_unreachable_server_is_retried_not_fatal(account_settings):
    settings = account_settings(port=free_port())
    stop = threading.Event()
    thread = run_poller(imap_edge.Poller(settings, settings.imap[0], stop), 0)
    time.sleep(1.5)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive() and InboundMail.select().count() == 0


def test_a_dead_pollers_account_is_taken_over_within_seconds_and_nothing_stored_twice(account_settings, monkeypatch):
    """A poller that dies keeps its lock (nobody releases it): another takes the account over once
    the lease runs out; the checkpoint keeps a stalled one from storing what the new one did."""
    monkeypatch.setattr(imap_edge, "LEASE", 3)
    settings = account_settings(poll_seconds=1, use_idle=False)
    dead = imap_edge.Poller(settings, settings.imap[0])
    assert dead._lock().acquire(blocking=False)  # held, never renewed, never released: a killed process
    server(settings).append("INBOX", load_eml("new_question.eml"))
    stop = threading.Event()
    standby = imap_edge.Poller(settings, settings.imap[0], stop)
    started = time.monotonic()
    thread = run_poller(standby, 0)
    try:
        time.sleep(1.5)
        assert InboundMail.select().count() == 0  # the lease still runs
        assert wait_until(lambda: InboundMail.select().count() == 1, timeout=12)
        taken_over = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=15)
    assert 2.5 <= taken_over <= 3 + 6  # the lease, a retry (LEASE / 5) and a pass: seconds, not the 90 s of old
    # the dead poller, were it only stalled, finds the checkpoint past the mail and stores nothing
    row = InboundMail.get()
    assert inbound.store_from_imap(b"again", "<x>", settings.imap[0].name, ("support@example.com",),
                                   row.imap_uidvalidity, row.imap_uid) is None
    assert InboundMail.select().count() == 1
