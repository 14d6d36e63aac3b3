"""Migrations on a database as an earlier release left it, on the suite's database (SQLite, or
PostgreSQL with POSTDESK_TEST_DB=postgresql)."""

from tests import postgres
from tests.conftest import make_settings


def test_migrations_turn_newline_joined_agent_addresses_and_recipients_into_rows_and_add_categories(tmp_path):
    from models import migrations
    from models.base import db, open_database
    from models.tables import AgentAddress

    settings = make_settings(tmp_path, "redis://127.0.0.1:9/0",
                             database={"url": postgres.database_url(tmp_path / "old", empty=True)})
    open_database(settings)
    p = db.param
    for version, _, apply in migrations.MIGRATIONS[:4]:
        if version == 1:
            db.create_tables([migrations.SchemaVersion])
        apply()
        migrations.SchemaVersion.create(version=version)
    if "alternate_emails" not in {c.name for c in db.get_columns("agent")}:  # as issue 4 shipped it
        db.execute_sql("ALTER TABLE agent ADD COLUMN alternate_emails TEXT NOT NULL DEFAULT ''")
    if "notices" in {c.name for c in db.get_columns("agent")}:  # as issue 4 shipped it: no such column
        db.execute_sql("ALTER TABLE agent DROP COLUMN notices")
    for column in ("language", "timezone"):  # nor the admin's language and time zone
        db.execute_sql(f"ALTER TABLE agent DROP COLUMN {column}")
    db.execute_sql("INSERT INTO agent (email, alternate_emails, name, role, password_hash, reply_secret, "
                   "active, created_at) VALUES ('a@example.com', 'A@Phone.example\nb@alias.example\n', "
                   "'A', 'agent', '', 's', TRUE, '2026-01-01 00:00:00')")
    # and the outbox as it was: a unique Message-ID, recipients on lines of one row
    db.execute_sql("DROP INDEX IF EXISTS outbox_message_id_rcpt_to")
    db.execute_sql("DROP INDEX IF EXISTS outbox_message_id")
    db.execute_sql("CREATE UNIQUE INDEX outbox_message_id ON outbox (message_id)")
    db.execute_sql("INSERT INTO outbox (message_id, kind, mail_from, rcpt_to, raw, state, attempts, "
                   "next_attempt_at, last_error, created_at) VALUES ('<m@example.com>', 'reply', "
                   f"'support@example.com', 'x@client.example\ny@client.example', {p}, 'pending', 0, "
                   "'2026-01-01 00:00:00', '', '2026-01-01 00:00:00')", (b"\x00",))
    db.execute_sql("DROP INDEX IF EXISTS ticket_category")  # and tickets had no category
    db.execute_sql("ALTER TABLE ticket DROP COLUMN category")
    # before surveys were built: a placeholder table, no unsubscribing, no progress updates
    db.execute_sql("DROP TABLE survey")
    db.execute_sql("CREATE TABLE survey (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL UNIQUE, token "
                   "VARCHAR(255) NOT NULL UNIQUE, scheduled_for TIMESTAMP, sent_at TIMESTAMP, rating INTEGER, "
                   "comment TEXT NOT NULL, responded_at TIMESTAMP)")
    db.execute_sql("DROP INDEX ticket_status_last_contact_at")
    db.execute_sql("ALTER TABLE ticket DROP COLUMN last_contact_at")
    db.execute_sql("ALTER TABLE customer DROP COLUMN unsubscribed_at")
    db.execute_sql("DROP INDEX ticket_status_sla_due")
    db.execute_sql("ALTER TABLE ticket DROP COLUMN sla_due")
    assert migrations.migrate() == [version for version, _, _ in migrations.MIGRATIONS[4:]]
    assert "category" in {c.name for c in db.get_columns("ticket")}
    assert "last_contact_at" in {c.name for c in db.get_columns("ticket")}
    assert {"state", "message_id", "resolved_at"} <= {c.name for c in db.get_columns("survey")}
    assert sorted(a.email for a in AgentAddress.select()) == ["a@phone.example", "b@alias.example"]
    assert "alternate_emails" not in {c.name for c in db.get_columns("agent")}
    from models.tables import Outbox
    assert sorted((o.message_id, o.rcpt_to) for o in Outbox.select()) == [
        ("<m@example.com>", "x@client.example"), ("<m@example.com>", "y@client.example")]
