"""Versioned schema migrations, applied in order from an empty database (`postdesk migrate`)."""

from __future__ import annotations

import logging

from peewee import SqliteDatabase
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as apply_operations

from . import dialect, search, search_postgres
from .base import db
from .tables import (
    ALL,
    AccountEvent,
    Agent,
    AgentAddress,
    Attachment,
    Customer,
    Event,
    ImapCheckpoint,
    InboundMail,
    LoginFailure,
    Message,
    Outbox,
    Participant,
    ReportDay,
    SchemaVersion,
    SlaMark,
    Survey,
    Ticket,
    WebSession,
)

log = logging.getLogger(__name__)


def _initial_schema():
    db.create_tables(ALL)


def _follow_ups_and_participants():
    migrator = SchemaMigrator.from_database(db.obj)
    if "follow_up_of_id" not in {c.name for c in db.get_columns(Ticket._meta.table_name)}:
        apply_operations(migrator.add_column(Ticket._meta.table_name, "follow_up_of_id",
                                             Ticket.follow_up_of))
    db.create_tables([Participant])
    # For the per-recipient rate limit on automatic mail.
    db.execute_sql("CREATE INDEX IF NOT EXISTS outbox_rcpt_to ON outbox (rcpt_to)")


def _add_missing_columns(model, *fields) -> None:
    """Add columns a table lacks (migration 1 creates tables from today's models)."""
    migrator = SchemaMigrator.from_database(db.obj)
    table = model._meta.table_name
    present = {c.name for c in db.get_columns(table)}
    for f in fields:
        if f.column_name not in present:
            apply_operations(migrator.add_column(table, f.column_name, f))


def _leases_review_and_sessions():
    _add_missing_columns(InboundMail, InboundMail.leased_until, InboundMail.trace)
    _add_missing_columns(Message, Message.review_reason, Message.outsider)
    db.execute_sql("CREATE INDEX IF NOT EXISTS inbound_mail_leased_until ON inbound_mail (leased_until)")
    # "failed" was the terminal state before attempts and quarantine existed.
    InboundMail.update(state="quarantined").where(InboundMail.state == "failed").execute()
    db.create_tables([WebSession, LoginFailure])


def _one_outbox_row_per_recipient():
    """The Message-ID is no longer unique alone: (message_id, rcpt_to) is. Rows that named
    several recipients on lines of their own become one row each."""
    db.execute_sql("DROP INDEX IF EXISTS outbox_message_id")
    db.execute_sql("CREATE INDEX IF NOT EXISTS outbox_message_id ON outbox (message_id)")
    db.execute_sql("CREATE UNIQUE INDEX IF NOT EXISTS outbox_message_id_rcpt_to ON outbox (message_id, rcpt_to)")
    for row in Outbox.select().where(Outbox.rcpt_to.contains("\n")):
        first, *others = [a for a in row.rcpt_to.split("\n") if a]
        for address in others:
            # Without "id": a new one (PostgreSQL refuses an explicit NULL, which SQLite numbers).
            copy = {name: value for name, value in row.__data__.items() if name != "id"}
            Outbox.insert(**{**copy, "rcpt_to": address}).on_conflict_ignore().execute()
        Outbox.update(rcpt_to=first).where(Outbox.id == row.id).execute()


def _event_values_and_agent_addresses():
    _add_missing_columns(Event, Event.old, Event.new)
    _add_missing_columns(Agent, Agent.notices)
    _one_outbox_row_per_recipient()
    db.create_tables([AgentAddress])
    if "alternate_emails" in {c.name for c in db.get_columns(Agent._meta.table_name)}:
        # Newline-joined text before: one row per address now, then the column goes.
        for agent_id, text in db.execute_sql("SELECT id, alternate_emails FROM agent").fetchall():
            for email in dict.fromkeys((text or "").lower().split()):
                AgentAddress.insert(agent=agent_id, email=email).on_conflict_ignore().execute()
        apply_operations(SchemaMigrator.from_database(db.obj).drop_column(Agent._meta.table_name,
                                                                           "alternate_emails"))


def _ticket_categories():
    _add_missing_columns(Ticket, Ticket.category)
    db.execute_sql("CREATE INDEX IF NOT EXISTS ticket_category ON ticket (category)")


def _sla_clocks():
    _add_missing_columns(Ticket, Ticket.sla_policy, Ticket.sla_clocks, Ticket.sla_next_check)
    db.execute_sql("CREATE INDEX IF NOT EXISTS ticket_sla_next_check ON ticket (sla_next_check)")
    db.create_tables([SlaMark])


def _surveys_and_progress_updates():
    _add_missing_columns(Ticket, Ticket.last_contact_at)
    db.execute_sql("CREATE INDEX IF NOT EXISTS ticket_status_last_contact_at "
                   "ON ticket (status, last_contact_at)")
    _add_missing_columns(Customer, Customer.unsubscribed_at)
    if "state" not in {c.name for c in db.get_columns(Survey._meta.table_name)}:
        # Migration 1's placeholder survey table, which nothing ever wrote: today's replaces it.
        db.drop_tables([Survey])
        db.create_tables([Survey])


def _queues():
    if isinstance(db.obj, SqliteDatabase):
        search.create(db.obj)
    _add_missing_columns(Ticket, Ticket.sla_due)
    db.execute_sql("CREATE INDEX IF NOT EXISTS ticket_status_sla_due ON ticket (status, sla_due)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS ticket_assignee_id_status ON ticket (assignee_id, status)")
    # Until each ticket's clocks are next recomputed: the earliest of its due times, if any runs.
    for column in ("first_response_due", "next_response_due", "resolution_due"):
        db.execute_sql(f"UPDATE ticket SET sla_due = {column} WHERE {column} IS NOT NULL AND sla_state IN "
                       f"('running', 'breached') AND (sla_due IS NULL OR {column} < sla_due)")


def _agent_preferences():
    _add_missing_columns(Agent, Agent.language, Agent.timezone)


def _merged_tickets():
    _add_missing_columns(Ticket, Ticket.merged_into)


def _queue_indexes():
    """Each queue page reads one index range per status, already in the page's order: by due time
    (tickets without a running clock last, hence the COALESCE, which the queue's query repeats word
    for word), by assignee, by last update; the dashboard's ranges by creation and reply time."""
    due = "COALESCE(sla_due, '9999-12-31 00:00:00')"
    for statement in (
            f"CREATE INDEX IF NOT EXISTS ticket_status_queue_due ON ticket (status, {due}, id)",
            f"CREATE INDEX IF NOT EXISTS ticket_assignee_queue_due ON ticket (assignee_id, status, {due}, id)",
            "CREATE INDEX IF NOT EXISTS ticket_status_updated_at ON ticket (status, updated_at, id)",
            "CREATE INDEX IF NOT EXISTS ticket_priority_updated_at ON ticket (priority, updated_at, id)",
            "CREATE INDEX IF NOT EXISTS ticket_created_at ON ticket (created_at)",
            "CREATE INDEX IF NOT EXISTS ticket_status_created_at ON ticket (status, created_at)",
            "CREATE INDEX IF NOT EXISTS message_kind_created_at ON message (kind, created_at, author_agent_id)",
            # what the ones above begin with, each one more index for every ticket written to update
            "DROP INDEX IF EXISTS ticket_status", "DROP INDEX IF EXISTS ticket_assignee_id_status"):
        db.execute_sql(statement)
    db.create_tables([ReportDay])  # filled by the followups job and the dashboard (models/reports.py)
    db.create_tables([AccountEvent])


def _postgresql_search_indexes():
    """Search on PostgreSQL: trigram indexes (SQLite has its FTS5 table since migration 9)."""
    if dialect.is_postgresql(db.obj):
        search_postgres.create(db.obj)


def _attachment_store():
    _add_missing_columns(Attachment, Attachment.in_store)
    db.execute_sql("CREATE INDEX IF NOT EXISTS attachment_sha256 ON attachment (sha256)")


def _history_indexes():
    """Reads that every mail makes, by index ranges of what they need rather than all the rows of
    a long-lived ticket or address: the SLA clocks read a ticket's replies and status changes and
    the client message after each reply (actions/sla.py); the hourly limit on automatic mail
    counts an address's mail of the last hour (models/outbox.py). The indexes they replace are
    what these begin with."""
    for statement in (
            "CREATE INDEX IF NOT EXISTS event_ticket_id_action_created_at ON event (ticket_id, action, created_at, id)",
            "CREATE INDEX IF NOT EXISTS outbox_rcpt_to_created_at ON outbox (rcpt_to, created_at)",
            "DROP INDEX IF EXISTS event_ticket_id", "DROP INDEX IF EXISTS outbox_rcpt_to"):
        db.execute_sql(statement)


def _messages_by_ticket_and_time():
    """A ticket's messages in the order of the thread, by an index range: the latest client mail,
    which every reply and status mail is threaded under (models/tickets.last_customer_message),
    and the ticket page's newest messages were sorted from all of a long ticket's messages. The
    index it replaces is what this one begins with."""
    for statement in (
            "CREATE INDEX IF NOT EXISTS message_ticket_id_created_at ON message (ticket_id, created_at, id)",
            "DROP INDEX IF EXISTS message_ticket_id"):
        db.execute_sql(statement)


def _search_in_batches():
    if isinstance(db.obj, SqliteDatabase):
        search.index_in_batches(db.obj)


# Append new migrations; never edit or reorder applied ones. Later ones use playhouse.migrate.
MIGRATIONS = (
    (1, "initial schema", _initial_schema),
    (2, "follow-up tickets and Cc participants", _follow_ups_and_participants),
    (3, "IMAP checkpoints", lambda: db.create_tables([ImapCheckpoint])),
    (4, "inbound leases and trace lines, messages for review, server-side web sessions", _leases_review_and_sessions),
    (5, "old and new values of events as data; agent addresses and outbox recipients as rows",
     _event_values_and_agent_addresses),
    (6, "ticket categories", _ticket_categories),
    (7, "SLA clocks: policy, clock states, next check; marks for warnings and escalations", _sla_clocks),
    (8, "satisfaction surveys per resolution; unsubscribed customers; when a client was last mailed",
     _surveys_and_progress_updates),
    (9, "queues: each ticket's earliest running due time, indexed with its status; tickets by assignee; "
        "full-text search",
     _queues),
    (10, "each agent's language and time zone in the admin", _agent_preferences),
    (11, "tickets merged into another", _merged_tickets),
    (12, "queue, dashboard and report indexes; the dashboard's daily figures; changes to staff logins",
     _queue_indexes),
    (13, "search on PostgreSQL: trigram indexes on subjects and messages", _postgresql_search_indexes),
    (14, "attachments kept in a folder by content hash", _attachment_store),
    (15, "events by ticket, action and time (the SLA clocks' history); outgoing mail by recipient and time "
         "(the hourly limit)", _history_indexes),
    (16, "messages by ticket and time (a thread in order, its latest client mail)", _messages_by_ticket_and_time),
    (17, "search: a batch of mail indexes its tickets and messages as it ends", _search_in_batches),
)


def current_version() -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    latest = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return latest.version if latest else 0


def migrate() -> list[int]:
    """Apply every migration newer than the database; returns the versions applied."""
    db.create_tables([SchemaVersion])
    applied = []
    with dialect.altering_tables(db.obj):
        for version, title, apply in MIGRATIONS:
            with db.atomic():
                if SchemaVersion.get_or_none(SchemaVersion.version == version):
                    continue
                log.info("applying migration %d: %s", version, title)
                apply()
                SchemaVersion.create(version=version)
                applied.append(version)
    return applied


def is_current() -> bool:
    return current_version() == MIGRATIONS[-1][0]
