"""The one thing every edge does with a mail: store the raw bytes durably, then enqueue the id."""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future

from peewee import OperationalError

from models import inbound
from models.base import db

from .parsing import message_id_of

log = logging.getLogger(__name__)

class StorageError(Exception):
    """The mail could not be stored; the sender must be told to try again later."""


def incoming(raw: bytes, source: str, mail_from: str = "", rcpt_to: tuple[str, ...] = (),
             trace: bytes = b"") -> inbound.Incoming:
    """A mail as an edge took it, with its idempotency key."""
    return inbound.Incoming(raw, source, message_id_of(raw), mail_from, tuple(rcpt_to), trace)


def store(raw: bytes, source: str, mail_from: str = "", rcpt_to: tuple[str, ...] = ()) -> int:
    """Commit one mail (imports, tests); returns its row id."""
    return inbound.store(incoming(raw, source, mail_from, rcpt_to))


def receive(settings, raw: bytes, source: str, mail_from: str = "", rcpt_to: tuple[str, ...] = (),
            batcher=None) -> int:
    """Store, then enqueue. Returns the InboundMail id once the bytes are committed; raises
    StorageError when they are not. A Redis failure after storing is logged, not raised: the
    sweeper enqueues stored mail that no job took."""
    mail = incoming(raw, source, mail_from, rcpt_to)
    try:
        inbound_id = inbound.store(mail)
    except Exception as exc:
        log.error("%s from %s could not be stored: %s", mail.message_id, source, exc,
                  extra={"message_id": mail.message_id})
        raise StorageError(str(exc)) from exc
    hand_over(settings, mail, inbound_id, batcher)
    return inbound_id


def hand_over(settings, mail: inbound.Incoming, inbound_id: int, batcher=None) -> None:
    """After the commit: log, then give the id to the batcher, or straight to the workers."""
    from workers import handover  # edges import the worker API only when they receive

    log.info("%s stored as inbound %d (%s, %d bytes)", mail.message_id, inbound_id, mail.source,
             len(mail.raw), extra={"message_id": mail.message_id, "inbound": inbound_id})
    if batcher is not None:
        batcher.add(inbound_id)
    else:
        handover.enqueue_processing(settings, [inbound_id])


class GroupCommitter:
    """Stores mail from concurrent SMTP sessions in shared transactions (group commit): SQLite
    has one writer at a time, and the workers need the lock too. Each session still hears 250
    only after the transaction holding its mail has committed."""

    def __init__(self, settings, batcher=None, max_group: int = 32):
        self.settings, self.batcher, self.max_group = settings, batcher, max_group
        self.polls_lock = settings.database.url.startswith("sqlite")
        self.requests: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="postdesk-group-commit", daemon=True)
        self.thread.start()

    def submit(self, raw: bytes, source: str, mail_from: str, rcpt_to: tuple[str, ...],
               trace: bytes = b"") -> Future:
        """Store `raw` as sent, with our `trace` line beside it (see inbound.store_many)."""
        future: Future = Future()
        self.requests.put((incoming(raw, source, mail_from, rcpt_to, trace), future))
        return future

    def close(self) -> None:
        self.requests.put(None)
        self.thread.join(timeout=10)

    def _run(self) -> None:
        if self.polls_lock:  # this thread's own connection: fail at once on a held lock, see _store
            db.execute_sql("PRAGMA busy_timeout = 0")
        while True:
            first = self.requests.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    item = self.requests.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.requests.put(None)  # finish this group, then stop
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group) -> None:
        try:
            ids = self._store([mail for mail, _ in group])
        except Exception as exc:
            log.error("%d mails could not be stored: %s", len(group), exc)
            for _, future in group:
                future.set_exception(StorageError(str(exc)))
            return
        for (mail, future), inbound_id in zip(group, ids, strict=True):
            hand_over(self.settings, mail, inbound_id, self.batcher)
            future.set_result(inbound_id)

    def _store(self, mails: list[inbound.Incoming]) -> list[int]:
        """Store, waiting for SQLite's write lock by polling it every millisecond. SQLite's own
        busy handler sleeps 25 to 100 ms at a time once it has waited a little, so a worker
        committing batch after batch would take the lock again before the edge woke up, and the
        clients (and the mail they send next) would wait; the edge answers people, it goes first."""
        if not self.polls_lock:
            return inbound.store_many(mails)
        deadline = time.monotonic() + self.settings.database.busy_timeout_ms / 1000
        while True:
            try:
                return inbound.store_many(mails)
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
