"""Raw inbound mail: stored durably before any edge acknowledges it, then processed by a job."""

from __future__ import annotations

import datetime as dt

from mailer.parsing import message_id_of

from .base import db, utcnow
from .tables import ImapCheckpoint, InboundMail


def store(raw: bytes, source: str, mail_from: str = "", rcpt_to: tuple[str, ...] = ()) -> int:
    """Commit the raw bytes; returns the row id. Raises on any storage failure."""
    return store_many([(raw, source, mail_from, rcpt_to)])[0]


def store_many(mails: list[tuple[bytes, str, str, tuple[str, ...]]]) -> list[int]:
    """Commit several (raw, source, mail_from, rcpt_to) in one transaction: all or none."""
    with db.atomic():
        return [InboundMail.insert(raw=raw, size=len(raw), source=source, mail_from=mail_from,
                                   rcpt_to="\n".join(rcpt_to), message_id=message_id_of(raw),
                                   received_at=utcnow()).execute()
                for raw, source, mail_from, rcpt_to in mails]


def is_waiting(message_ids: list[str], other_than: int) -> bool:
    """Is mail with one of these Message-IDs stored but not yet processed?"""
    return (InboundMail.select().where(InboundMail.message_id.in_(message_ids[:100])
                                       & (InboundMail.state == "received") & (InboundMail.id != other_than))
            .exists())


def finish(row: InboundMail, state: str, outcome: str = "", error: str = "",
           message_id: str = "") -> None:
    """Record how processing ended (inside the caller's transaction when there is one)."""
    InboundMail.update(state=state, outcome=outcome, error=error[:4000], processed_at=utcnow(),
                       message_id=message_id or row.message_id,
                       attempts=InboundMail.attempts + 1).where(InboundMail.id == row.id).execute()


def stale_ids(older_than_seconds: int, limit: int = 1000) -> list[int]:
    """Mail stored but never processed (its job was lost, e.g. Redis was down): oldest first."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than_seconds)
    query = (InboundMail.select(InboundMail.id)
             .where((InboundMail.state == "received") & (InboundMail.received_at <= cutoff))
             .order_by(InboundMail.id).limit(limit))
    return [row.id for row in query]


def failed_ids(limit: int = 1000) -> list[int]:
    query = (InboundMail.select(InboundMail.id).where(InboundMail.state == "failed")
             .order_by(InboundMail.id).limit(limit))
    return [row.id for row in query]


def store_from_imap(raw: bytes, account: str, rcpt_to: tuple[str, ...], uidvalidity: int, uid: int,
                    rejected: str = "") -> int:
    """Store one fetched message and advance the account's checkpoint in the same transaction,
    so a crash can neither skip a message nor store it twice."""
    with db.atomic():
        row = InboundMail.create(raw=b"" if rejected else raw, size=len(raw), source="imap",
                                 message_id=message_id_of(raw) if raw else "",
                                 mail_from=f"imap:{account}", rcpt_to="\n".join(rcpt_to),
                                 imap_uidvalidity=uidvalidity, imap_uid=uid,
                                 state="rejected" if rejected else "received", error=rejected)
        checkpoint, _ = ImapCheckpoint.get_or_create(account=account)
        checkpoint.uidvalidity, checkpoint.last_uid, checkpoint.updated_at = uidvalidity, uid, utcnow()
        checkpoint.save()
    return row.id


def imap_checkpoint(account: str) -> ImapCheckpoint:
    return ImapCheckpoint.get_or_none(ImapCheckpoint.account == account) or ImapCheckpoint(account=account)


def reset_imap_checkpoint(account: str, uidvalidity: int) -> None:
    """A new UIDVALIDITY means old UIDs mean nothing: start over (Message-IDs dedupe)."""
    with db.atomic():
        checkpoint, _ = ImapCheckpoint.get_or_create(account=account)
        checkpoint.uidvalidity, checkpoint.last_uid, checkpoint.updated_at = uidvalidity, 0, utcnow()
        checkpoint.save()
