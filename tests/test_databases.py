"""What must hold on SQLite and PostgreSQL alike (models/dialect.py), run on whichever the suite
runs on: `make test` runs it on both."""

from __future__ import annotations

from mailer import spool
from models import dialect, migrations
from models.base import db, open_database
from models.tables import InboundMail, Message, Ticket
from tests import postgres
from tests.conftest import ingest, make_settings


def test_the_suite_runs_on_the_database_it_was_asked_for(settings):
    """A test module importing make_settings from tests.conftest (a second copy of the module)
    once quietly got SQLite in the PostgreSQL pass."""
    assert dialect.is_postgresql() == postgres.wanted()
    assert settings.database.url.startswith("postgresql://" if postgres.wanted() else "sqlite:///")


def test_migrations_apply_from_an_empty_database(tmp_path):
    settings = make_settings(tmp_path, "redis://127.0.0.1:9/0",
                             database={"url": postgres.database_url(tmp_path / "new", empty=True)})
    open_database(settings)
    assert migrations.current_version() == 0
    assert migrations.migrate() == [version for version, _, _ in migrations.MIGRATIONS]
    assert migrations.is_current() and migrations.migrate() == []


def test_mail_with_nul_characters_is_stored_threaded_and_deduplicated(settings):
    """PostgreSQL's text cannot hold NUL, and a mail may carry one in its Message-ID, subject or
    body; it is stored all the same (as U+FFFD there), and the same mail twice is one message."""
    raw = (b"From: Alice <alice@client.example>\r\nTo: support@example.com\r\nSubject: broken\x00printer\r\n"
           b"Message-ID: <nul\x00id@client.example>\r\n\r\nIt prints \x00 nothing.\r\n")
    assert ingest(settings, raw).outcome == "new_ticket"
    assert ingest(settings, raw).outcome == "duplicate"
    assert Ticket.select().count() == 1 and Message.select().count() == 1
    message = Message.get()
    assert message.message_id.startswith("<nul") and "printer" in Ticket.get().subject
    assert {row.state for row in InboundMail.select()} == {"processed"}


def test_an_edge_stores_mail_whose_message_id_holds_a_nul(settings):
    inbound_id = spool.store(b"Message-ID: <a\x00b@client.example>\r\n\r\nhi\r\n", "smtp")
    assert InboundMail.get_by_id(inbound_id).message_id.replace("\ufffd", "\x00") == "<a\x00b@client.example>"


def test_text_comparisons_are_case_sensitive_on_both(settings):
    """Addresses are stored lower-cased because `=` is case-sensitive on PostgreSQL and SQLite
    alike (LIKE is not on SQLite: never rely on it for identity)."""
    ingest(settings, "new_question.eml")  # From: Alice Martin <Alice@Client.Example>
    count = "SELECT COUNT(*) FROM customer WHERE email = '%s'"
    assert db.execute_sql(count % "alice@client.example").fetchone()[0] == 1
    assert db.execute_sql(count % "Alice@Client.Example").fetchone()[0] == 0
