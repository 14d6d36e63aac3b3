"""`postdesk import`: past support mail from an mbox, a Maildir or a folder of .eml files,
in date order, through the same pipeline as live mail."""

from __future__ import annotations

import collections
import logging
import mailbox
import re
from datetime import UTC, datetime
from pathlib import Path

from models import inbound

from . import parsing, pipeline

log = logging.getLogger(__name__)

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
    date = parsing.read_date(match.group(1).decode("ascii", "replace")) if match else None
    return date or EPOCH


BATCH = 200  # mails stored in one transaction and processed in the next


def import_many(settings, raws: list[bytes], notify: bool) -> list[dict]:
    """Store and process these mails, in order, one result each; a mail already taken (same
    Message-ID, here or earlier in `raws`) is not stored again. The batch is stored in one
    transaction, then processed by `pipeline.process_many`: one transaction, a savepoint per mail."""
    message_ids = [parsing.message_id_of(raw) for raw in raws]
    seen = inbound.already_done(message_ids, parsing.synthetic_message_id)
    # Only a Message-ID taken already, or twice in this batch, needs the content compared.
    compared = {m for m, _ in seen} | {m for m, n in collections.Counter(message_ids).items() if n > 1}
    results: list[dict | None] = []
    fresh = []
    for raw, message_id in zip(raws, message_ids, strict=True):
        # the same mail, not just its Message-ID
        taken = (message_id, parsing.synthetic_message_id(raw) if message_id in compared else "")
        if taken in seen:
            results.append({"message_id": message_id, "outcome": "duplicate", "ticket": None, "threaded_by": None})
        else:
            seen.add(taken)
            results.append(None)
            fresh.append(inbound.Incoming(raw, "import", message_id))
    ids = inbound.store_many(fresh) if fresh else []
    try:
        contexts = pipeline.process_many(settings, ids, notify=notify, historic=True)
    except Exception:  # e.g. the database failed: the mails stay stored, for `postdesk replay`
        log.exception("%d stored mails could not be processed", len(ids))
        contexts = [None] * len(ids)
    processed = iter(zip(fresh, ids, contexts, strict=True))
    for index, result in enumerate(results):
        if result is None:
            results[index] = _result(*next(processed))
    return results


def _result(mail: inbound.Incoming, inbound_id: int, ctx) -> dict:
    if ctx is None:
        return {"message_id": mail.message_id, "outcome": "failed", "ticket": None, "threaded_by": None,
                "inbound": inbound_id}
    return {"message_id": mail.message_id, "outcome": ctx.outcome, "ticket": ctx.ticket.number if ctx.ticket else None,
            "threaded_by": ctx.threaded_by or None, "outbox": ctx.outbox_ids}
