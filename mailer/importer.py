"""`postdesk import`: past support mail from an mbox, a Maildir or a folder of .eml files,
in date order, through the same pipeline as live mail."""

from __future__ import annotations

import email.utils
import mailbox
import re
from datetime import UTC, datetime
from pathlib import Path

from models import inbound
from models.tables import InboundMail

from . import parsing, pipeline

DATE_RE = re.compile(rb"^Date:[ \t]*(.+?)\r?$", re.I | re.M)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_messages(path: Path) -> list[bytes]:
    """Every message under `path`, oldest first by its Date header (undated ones first)."""
    if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
        box = mailbox.Maildir(str(path), factory=None, create=False)
        raws = [box.get_bytes(key) for key in box.iterkeys()]
    elif path.is_dir():
        raws = [p.read_bytes() for p in sorted(path.rglob("*.eml"))]
    elif path.is_file():
        box = mailbox.mbox(str(path), create=False)
        raws = [box.get_bytes(key) for key in box.iterkeys()]
    else:
        raise FileNotFoundError(f"{path}: no such mbox file or folder")
    return sorted(raws, key=_date_of)


def _date_of(raw: bytes) -> datetime:
    head = raw[:raw.find(b"\n\n") if b"\n\n" in raw[:65536] else 65536]
    match = DATE_RE.search(head.replace(b"\r\n", b"\n"))
    try:
        date = email.utils.parsedate_to_datetime(match.group(1).decode("ascii", "replace"))
    except (AttributeError, TypeError, ValueError, IndexError):
        return EPOCH
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def import_one(settings, raw: bytes, notify: bool) -> dict:
    """Store and process one mail; a mail already taken (same Message-ID) is not stored again."""
    message_id = parsing.message_id_of(raw)
    seen = (InboundMail.select().where((InboundMail.message_id == message_id)
                                       & InboundMail.state.in_(("processed", "rejected"))).exists())
    if seen:
        return {"message_id": message_id, "outcome": "duplicate", "ticket": None, "threaded_by": None}
    inbound_id = inbound.store(inbound.Incoming(raw, "import", message_id))
    try:
        ctx = pipeline.process(settings, inbound_id, notify=notify, historic=True)
    except Exception:
        return {"message_id": message_id, "outcome": "failed", "ticket": None, "threaded_by": None,
                "inbound": inbound_id}
    return {"message_id": message_id, "outcome": ctx.outcome,
            "ticket": ctx.ticket.number if ctx.ticket else None,
            "threaded_by": ctx.threaded_by or None, "outbox": ctx.outbox_ids}
