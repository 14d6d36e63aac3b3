"""`postdesk import`: mbox, Maildir and .eml folders, oldest first, idempotent, quiet on request."""

import json
import mailbox
import subprocess
import sys
from datetime import datetime

import pytest

from models.tables import Message, Outbox, Ticket
from tests.conftest import load_eml

# Deliberately out of date order: the reply (12:00) comes before the question (09:00).
FILES = ["reply_to_own_sent_mail.eml", "new_question_with_cc.eml", "bounce_qmail.eml",
         "out_of_office.eml", "no_from_header.eml"]


def run_import(settings, path, *flags):
    result = subprocess.run([sys.executable, "-m", "postdesk", "--config", settings.source, "import",
                             str(path), "--json", *flags], capture_output=True, text=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result, lines


def make_source(kind, tmp_path):
    if kind == "eml folder":
        folder = tmp_path / "emls"
        folder.mkdir()
        for i, name in enumerate(FILES):
            (folder / f"{i:02d}-{name}").write_bytes(load_eml(name))
        return folder
    box = mailbox.mbox(str(tmp_path / "support.mbox")) if kind == "mbox" else mailbox.Maildir(str(tmp_path / "Maildir"))
    for name in FILES:
        box.add(load_eml(name))
    box.flush()
    return tmp_path / ("support.mbox" if kind == "mbox" else "Maildir")


def test_a_date_that_cannot_be_true_is_brought_within_bounds(settings, tmp_path):
    """Imported mail keeps its own date, except one before networked mail existed (1971) or
    ahead of our clock: the ticket opens at the bound, and its SLA clocks count from there."""
    folder = tmp_path / "odd-dates"
    folder.mkdir()
    for year in (1800, 2099):
        (folder / f"{year}.eml").write_bytes(
            f"From: someone{year}@client.example\r\nTo: support@example.com\r\nSubject: dated {year}\r\n"
            f"Date: Wed, 1 Jan {year} 10:00:00 +0000\r\nMessage-ID: <dated-{year}@client.example>\r\n"
            f"\r\nHello.\r\n".encode())
    result, lines = run_import(settings, folder, "--no-notify")
    assert result.returncode == 0, result.stderr
    assert {line["outcome"] for line in lines} == {"new_ticket"}
    old = Ticket.get(Ticket.subject == "dated 1800")
    assert old.created_at == datetime(1971, 1, 1) and old.sla_state == "breached"
    ahead = Ticket.get(Ticket.subject == "dated 2099")
    assert datetime(2026, 1, 1) < ahead.created_at <= datetime.utcnow()


@pytest.mark.parametrize("kind", ["eml folder", "mbox", "Maildir"])
def test_import_in_date_order_and_twice_adds_nothing(settings, tmp_path, kind):
    source = make_source(kind, tmp_path)
    result, lines = run_import(settings, source, "--no-notify")
    assert result.returncode == 0, result.stderr
    by_id = {line["message_id"]: line for line in lines}
    assert by_id["<vpn-question@client.example>"] == {
        "message_id": "<vpn-question@client.example>", "outcome": "new_ticket", "ticket": 1, "threaded_by": "new"}
    assert by_id["<vpn-alice-again@client.example>"]["outcome"] == "added"
    assert by_id["<vpn-alice-again@client.example>"]["threaded_by"] == "header"
    assert by_id["<qmail-bounce@mail.client.example>"]["outcome"] == "bounce"
    assert by_id["<ooo-1@client.example>"]["outcome"] == "auto_reply_unthreaded"
    assert by_id["<no-from-1@client.example>"]["outcome"] == "rejected"
    assert Outbox.select().count() == 0  # --no-notify: historic mail sends nothing
    first = Ticket.get(Ticket.number == 1)
    assert first.created_at.strftime("%Y-%m-%d %H:%M") == "2026-11-23 08:00"  # the mail's own date
    counts = (Ticket.select().count(), Message.select().count())

    again, lines = run_import(settings, source, "--no-notify")
    assert again.returncode == 0
    assert {line["outcome"] for line in lines} == {"duplicate"}
    assert (Ticket.select().count(), Message.select().count()) == counts


def test_an_import_keeps_two_different_mails_that_share_a_message_id(settings, tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    mails = (("a", "dupa@client-a.example", "printer broken"), ("b", "dupb@client-b.example", "refund"))
    for name, sender, text in mails:
        (folder / f"{name}.eml").write_bytes(f"From: {sender}\r\nTo: support@example.com\r\nSubject: {text}\r\n"
                                            f"Message-ID: <1234@localhost>\r\n\r\n{text}\r\n".encode())
    result, lines = run_import(settings, folder, "--no-notify")
    assert result.returncode == 0 and [line["outcome"] for line in lines] == ["new_ticket", "new_ticket"]
    again, lines = run_import(settings, folder, "--no-notify")
    assert [line["outcome"] for line in lines] == ["duplicate", "duplicate"]
    assert Ticket.select().count() == 2


def test_import_with_notifications_acknowledges_new_tickets(settings, tmp_path):
    result, lines = run_import(settings, make_source("eml folder", tmp_path))
    assert result.returncode == 0
    # One acknowledgement: Alice's question. The out-of-office opens a ticket but is never answered.
    assert [(o.kind, o.rcpt_to) for o in Outbox.select()] == [("acknowledgement", "alice@client.example")]
