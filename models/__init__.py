"""Peewee tables and the domain operations on them: the only code that writes."""

from .base import db, open_database, utcnow  # noqa: F401
from .tables import (  # noqa: F401
    Agent,
    Attachment,
    Counter,
    Customer,
    Event,
    InboundMail,
    Mailbox,
    Message,
    Outbox,
    Survey,
    Ticket,
)
