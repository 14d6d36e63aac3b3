"""Every table of Postdesk's data model (DESIGN.md, "Data model")."""

from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow

TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")


class Counter(BaseModel):
    """Named counters (ticket numbers); updated in the creating transaction, so gap-free."""

    name = pw.CharField(primary_key=True)
    value = pw.BigIntegerField()


class Mailbox(BaseModel):
    address = pw.CharField(unique=True)
    name = pw.CharField(default="Support")
    queue = pw.CharField(default="support")
    language = pw.CharField(default="en")
    signature = pw.TextField(default="")


class Customer(BaseModel):
    email = pw.CharField(unique=True)  # always lower-cased
    name = pw.CharField(default="")
    organisation = pw.CharField(default="")
    tier = pw.CharField(default="standard")  # one of config customers.tiers
    language = pw.CharField(default="")
    bounce_state = pw.CharField(default="")  # "", "temporary", "permanent", "complained" (ARF)
    bounce_detail = pw.TextField(default="")
    # Asked for no more surveys and progress updates (List-Unsubscribe); answers to them still go.
    unsubscribed_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)


class Agent(BaseModel):
    email = pw.CharField(unique=True)
    name = pw.CharField(default="")
    role = pw.CharField(default="agent")  # agent / admin
    password_hash = pw.CharField(default="")
    reply_secret = pw.CharField(default="")
    active = pw.BooleanField(default=True)
    notices = pw.BooleanField(default=True)  # mail me new tickets and client replies
    language = pw.CharField(default="")  # of the admin for them: "en", "zh", "" (their browser's)
    timezone = pw.CharField(default="")  # dates in the admin, e.g. "Asia/Shanghai"; "": UTC
    created_at = pw.DateTimeField(default=utcnow)


class AgentAddress(BaseModel):
    """Another address an agent writes from (a phone's account, an alias): one row each."""

    agent = pw.ForeignKeyField(Agent, backref="addresses", on_delete="CASCADE")
    email = pw.CharField(unique=True)  # always lower-cased


class Ticket(BaseModel):
    number = pw.BigIntegerField(unique=True)
    mailbox = pw.ForeignKeyField(Mailbox, backref="tickets")
    customer = pw.ForeignKeyField(Customer, backref="tickets")
    subject = pw.TextField(default="")
    status = pw.CharField(default="new")  # indexed with what each queue sorts by (migration 12)
    priority = pw.CharField(default="normal")
    category = pw.CharField(default="", index=True)  # one of config tickets.categories; "": none yet
    assignee = pw.ForeignKeyField(Agent, null=True, backref="tickets")
    reply_token = pw.CharField(unique=True)
    first_response_due = pw.DateTimeField(null=True, index=True)
    next_response_due = pw.DateTimeField(null=True, index=True)
    resolution_due = pw.DateTimeField(null=True, index=True)
    sla_state = pw.CharField(default="")  # worst of the clocks: "", running, paused, met, breached
    escalation_level = pw.IntegerField(default=0)
    sla_policy = pw.CharField(default="")  # the [[policies]] name the clocks run by
    sla_clocks = pw.TextField(default="")  # JSON: each clock's state, due, target and use, as last computed
    sla_next_check = pw.DateTimeField(null=True, index=True)  # when the SLA job must look next (warning, breach…)
    sla_due = pw.DateTimeField(null=True)  # the earliest due time of a running (or breached) clock: the queues' order
    first_responded_at = pw.DateTimeField(null=True)
    resolved_at = pw.DateTimeField(null=True)
    closed_at = pw.DateTimeField(null=True)
    # The last contact with the client: our last mail to them (acknowledgement, answer, status,
    # progress update) or their last message. A progress update is due when it is long ago.
    last_contact_at = pw.DateTimeField(null=True)
    follow_up_of = pw.ForeignKeyField("self", null=True, backref="follow_ups")
    # Merged into another ticket: mail that would come here goes there (closed, kept for its history).
    merged_into = pw.ForeignKeyField("self", null=True, backref="merged")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("status", "last_contact_at"), False), (("status", "sla_due"), False))


class Participant(BaseModel):
    """Someone besides the customer on a ticket: colleagues the customer copied (Cc)."""

    ticket = pw.ForeignKeyField(Ticket, backref="participants", index=True)
    customer = pw.ForeignKeyField(Customer, backref="participations")
    role = pw.CharField(default="cc")

    class Meta:
        indexes = ((("ticket", "customer"), True),)


class InboundMail(BaseModel):
    raw = pw.BlobField()  # byte for byte as the sender sent it
    trace = pw.TextField(default="")  # the Received line our SMTP edge added on taking it
    size = pw.IntegerField()
    source = pw.CharField()  # smtp / imap / pipe / import
    mail_from = pw.TextField(default="")
    rcpt_to = pw.TextField(default="")  # one recipient per line
    imap_uidvalidity = pw.BigIntegerField(null=True)
    imap_uid = pw.BigIntegerField(null=True)
    message_id = pw.TextField(default="", index=True)
    # received → processed / rejected / quarantined (attempts used up; `postdesk replay` retries)
    state = pw.CharField(default="received", index=True)
    outcome = pw.CharField(default="")  # new_ticket, added, duplicate, auto_reply, ...
    error = pw.TextField(default="")
    attempts = pw.IntegerField(default=0)
    # A worker holding the mail owns it until then; nobody else processes or re-enqueues it.
    leased_until = pw.DateTimeField(null=True, index=True)
    received_at = pw.DateTimeField(default=utcnow, index=True)
    processed_at = pw.DateTimeField(null=True)


class Message(BaseModel):
    ticket = pw.ForeignKeyField(Ticket, backref="messages", index=False)  # indexed with its time (migration 16)
    direction = pw.CharField()  # in / out
    kind = pw.CharField()  # customer, agent_reply, note, automatic
    author_customer = pw.ForeignKeyField(Customer, null=True)
    author_agent = pw.ForeignKeyField(Agent, null=True)
    message_id = pw.CharField(unique=True, max_length=998)
    in_reply_to = pw.TextField(default="")
    references = pw.TextField(default="")
    subject = pw.TextField(default="")
    from_address = pw.CharField(default="")
    text = pw.TextField(default="")
    reply_text = pw.TextField(default="")
    html = pw.TextField(default="")
    inbound = pw.ForeignKeyField(InboundMail, null=True)
    threaded_by = pw.CharField(default="")  # token / header / subject_tag / new
    # Why a person should look at this message ("" when nothing is wrong), e.g. unreadable MIME.
    review_reason = pw.TextField(default="")
    # Written by someone who is neither the ticket's customer, a participant nor an agent.
    outsider = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)


class Attachment(BaseModel):
    message = pw.ForeignKeyField(Message, backref="attachments", index=True)
    filename = pw.TextField(default="")
    content_type = pw.CharField(default="application/octet-stream")
    size = pw.IntegerField()
    sha256 = pw.CharField()
    content_id = pw.CharField(default="")
    inline = pw.BooleanField(default=False)
    # In the attachment store (models/attachments.py) under sha256, with data left empty.
    in_store = pw.BooleanField(default=False)
    data = pw.BlobField(default=b"")

    class Meta:
        indexes = ((("sha256",), False),)  # whether a stored file is still named by any row


class Outbox(BaseModel):
    ticket = pw.ForeignKeyField(Ticket, null=True, backref="outbox")
    # One row per recipient: the same mail to two people is two rows with one Message-ID, so one
    # address that bounces, or a retry to it, touches nobody else.
    message_id = pw.CharField(index=True, max_length=998)
    kind = pw.CharField()  # acknowledgement, agent_reply, ...
    mail_from = pw.CharField()
    rcpt_to = pw.CharField()  # one address; indexed with created_at (migration 15)
    raw = pw.BlobField()
    state = pw.CharField(default="pending", index=True)  # pending/sending/sent/failed/dead
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow, index=True)
    last_error = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)
    sent_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("message_id", "rcpt_to"), True),)


class Event(BaseModel):
    """Append-only audit log: who did what to a ticket, when, and through which channel."""

    ticket = pw.ForeignKeyField(Ticket, backref="events", index=False)  # indexed with action and time (migration 15)
    actor = pw.CharField(default="system")
    action = pw.CharField()
    detail = pw.TextField(default="")  # for people
    # The change as data (JSON), for the SLA clocks and dashboards: e.g. status "pending" → "open".
    old = pw.TextField(null=True)
    new = pw.TextField(null=True)
    via = pw.CharField(default="system")  # email / web / worker / cli
    created_at = pw.DateTimeField(default=utcnow)


class Survey(BaseModel):
    """A satisfaction survey for one resolution of a ticket: scheduled when it is resolved, sent
    after a delay unless it reopens first, answered by a click or a reply. What the dashboards
    group by (agent, tier, mailbox, SLA met) is copied in when it is scheduled."""

    ticket = pw.ForeignKeyField(Ticket, backref="surveys", on_delete="CASCADE")
    resolved_at = pw.DateTimeField()  # the resolution this survey asks about: one survey each
    customer = pw.ForeignKeyField(Customer, backref="surveys")
    mailbox = pw.ForeignKeyField(Mailbox)
    agent = pw.ForeignKeyField(Agent, null=True)  # who resolved it (the assignee, else the actor)
    tier = pw.CharField(default="")
    sla_met = pw.BooleanField(null=True)  # None: the ticket ran no SLA clock
    language = pw.CharField(default="en")
    # scheduled → sending → sent; or cancelled (reopened first) / skipped (cool-down, unsubscribed…)
    state = pw.CharField(default="scheduled", index=True)
    reason = pw.TextField(default="")  # why it was cancelled or skipped
    scheduled_for = pw.DateTimeField(index=True)
    sent_at = pw.DateTimeField(null=True, index=True)
    message_id = pw.CharField(default="", index=True, max_length=998)  # of the survey mail: replies find it
    rating = pw.IntegerField(null=True)  # 1..5
    comment = pw.TextField(default="")
    responded_at = pw.DateTimeField(null=True)
    responded_via = pw.CharField(default="")  # web / email

    class Meta:
        indexes = ((("ticket", "resolved_at"), True),)


class SlaMark(BaseModel):
    """A warning or escalation level done for one run of one clock: its unique key is the claim
    that makes it happen once, however many SLA jobs run, overlap or catch up."""

    ticket = pw.ForeignKeyField(Ticket, backref="sla_marks", on_delete="CASCADE")
    clock = pw.CharField()  # first_response / next_response / resolution
    run = pw.CharField()  # when this run of the clock started (next response runs once per client message)
    mark = pw.CharField()  # "warning", "breach-0", "breach-1", …
    at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ticket", "clock", "run", "mark"), True),)


class ImapCheckpoint(BaseModel):
    """How far an IMAP account has been stored: by UIDVALIDITY and UID, never by \\Seen."""

    account = pw.CharField(primary_key=True)
    uidvalidity = pw.BigIntegerField(default=0)
    last_uid = pw.BigIntegerField(default=0)
    updated_at = pw.DateTimeField(default=utcnow)


class WebSession(BaseModel):
    """A signed-in admin session; the cookie holds only its id, so logout and a password change
    end it on the server."""

    id = pw.CharField(primary_key=True)  # a random token
    agent = pw.ForeignKeyField(Agent, backref="web_sessions", on_delete="CASCADE")
    created_at = pw.DateTimeField(default=utcnow)
    last_seen_at = pw.DateTimeField(default=utcnow)


class LoginFailure(BaseModel):
    """One wrong password, keyed by the address tried and by the client address."""

    key = pw.CharField(index=True)  # "email:…" or "ip:…"
    at = pw.DateTimeField(default=utcnow, index=True)


class AccountEvent(BaseModel):
    """Append-only record of changes to staff logins (they concern no ticket): who changed whose
    login, what, when, and through which channel."""

    agent = pw.ForeignKeyField(Agent, backref="account_events", index=True)  # the login changed
    actor = pw.CharField()
    action = pw.CharField()  # created, role, active, password, address
    detail = pw.TextField(default="")
    via = pw.CharField(default="web")
    created_at = pw.DateTimeField(default=utcnow, index=True)


class ReportDay(BaseModel):
    """The dashboard's figures of one day (UTC), summed by models/reports so a 90-day dashboard
    reads 90 days of sums instead of a quarter of a million tickets. One row per group of the
    tickets created that day: ("all", ""), ("policy", name), ("tier", name), ("agent", id),
    ("cause", name); ("replies", agent id): the replies written that day; ("day", ""): the day is
    summed. The row of 1970-01-01 ("watermark", time) holds when the last refresh began."""

    day = pw.DateField()
    dimension = pw.CharField()
    key = pw.CharField(default="")
    tickets = pw.IntegerField(default=0)  # or replies
    with_policy = pw.IntegerField(default=0)
    breached = pw.IntegerField(default=0)
    first_response = pw.TextField(default="{}")  # JSON: waits by histogram bucket (models/reports.py)
    resolution = pw.TextField(default="{}")

    class Meta:
        indexes = ((("day", "dimension", "key"), True),)


class SchemaVersion(BaseModel):
    version = pw.IntegerField(primary_key=True)
    applied_at = pw.DateTimeField(default=utcnow)


ALL = (Counter, Mailbox, Customer, Agent, Ticket, InboundMail, Message, Attachment, Outbox,
       Event, Survey)  # the tables of migration 1; later tables are created by their migration
