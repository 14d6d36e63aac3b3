"""The one thing every edge does with a mail: store the raw bytes durably, then enqueue the id."""

from __future__ import annotations

import asyncio
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

MAX_GROUP = 32  # mails in one transaction at most


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
    """Stores mail from concurrent SMTP sessions in shared transactions (group commit), in a
    thread of its own: SQLite has one writer at a time, and the workers need the lock too. Each
    session still hears 250 only after the transaction holding its mail has committed. On SQLite
    the edge uses it only for large mails (see `LoopCommitter`)."""

    def __init__(self, settings, batcher=None, max_group: int = MAX_GROUP):
        self.settings, self.batcher, self.max_group = settings, batcher, max_group
        self.polls_lock = _on_sqlite(settings)
        self.requests: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="postdesk-group-commit", daemon=True)
        self.thread.start()

    async def store(self, mail: inbound.Incoming) -> int:
        """The mail's row id once committed; raises StorageError when it could not be stored."""
        return await asyncio.wrap_future(self.submit(mail))

    def submit(self, mail: inbound.Incoming) -> Future:
        future: Future = Future()
        self.requests.put((mail, future))
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
        deadline = _lock_deadline(self.settings)
        while True:
            try:
                return inbound.store_many(mails)
            except OperationalError as exc:
                if not _locked(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.001)


class LoopCommitter:
    """Group commit on SQLite, in the SMTP edge's event loop itself. Handing each mail to a
    committer thread and its answer back cost the edge about a sixth of its CPU per mail in
    thread wake-ups, and that thread could hold SQLite's write lock while it waited for the
    interpreter's. Here the edge asks for the write lock without waiting (SQLite answers at once);
    while a worker holds it, the loop goes on serving every session and asks again a millisecond
    later, with all the mail that arrived meanwhile. A mail of `INLINE_MAX_BYTES` or more is
    written by the committer thread instead: copying megabytes must not stall the other sessions."""

    INLINE_MAX_BYTES = 256 * 1024

    def __init__(self, settings, batcher=None, max_group: int = MAX_GROUP):
        self.settings, self.batcher, self.max_group = settings, batcher, max_group
        self.large = GroupCommitter(settings, batcher, max_group)
        self.pending: list[tuple[inbound.Incoming, asyncio.Future]] = []
        self.deadline = 0.0  # for the lock, of the oldest mail waiting
        self.connection = None  # the loop thread's, once told never to wait for the lock

    async def store(self, mail: inbound.Incoming) -> int:
        """The mail's row id once committed; raises StorageError when it could not be stored."""
        if len(mail.raw) >= self.INLINE_MAX_BYTES:
            return await self.large.store(mail)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((mail, future))
        if len(self.pending) == 1:  # else an attempt is already due
            self.deadline = _lock_deadline(self.settings)
            loop.call_soon(self._attempt)
        return await future

    def close(self) -> None:
        self.large.close()

    def _attempt(self) -> None:
        loop = asyncio.get_running_loop()
        group = self.pending[:self.max_group]
        try:
            if db.connection() is not self.connection:  # this thread's: never wait in the loop
                db.execute_sql("PRAGMA busy_timeout = 0")
                self.connection = db.connection()
            ids = inbound.store_many([mail for mail, _ in group])
        except OperationalError as exc:
            if _locked(exc) and time.monotonic() < self.deadline:
                loop.call_later(0.001, self._attempt)
                return
            self._fail(group, exc)
        except Exception as exc:
            self._fail(group, exc)
        else:
            del self.pending[:len(group)]
            for (mail, future), inbound_id in zip(group, ids, strict=True):
                hand_over(self.settings, mail, inbound_id, self.batcher)
                if not future.done():  # its session may have gone meanwhile
                    future.set_result(inbound_id)
        if self.pending:
            self.deadline = _lock_deadline(self.settings)
            loop.call_soon(self._attempt)

    def _fail(self, group, exc: Exception) -> None:
        log.error("%d mails could not be stored: %s", len(group), exc)
        del self.pending[:len(group)]
        for _, future in group:
            if not future.done():
                future.set_exception(StorageError(str(exc)))


def edge_committer(settings, batcher=None) -> LoopCommitter | GroupCommitter:
    """The SMTP edge's group committer: in its event loop on SQLite, whose commits are local and
    take microseconds; in a thread on PostgreSQL, whose commits go over the network."""
    return (LoopCommitter if _on_sqlite(settings) else GroupCommitter)(settings, batcher)


def _on_sqlite(settings) -> bool:
    return settings.database.url.startswith("sqlite")


def _lock_deadline(settings) -> float:
    """Until when a mail may wait for SQLite's write lock: the configured busy timeout."""
    return time.monotonic() + settings.database.busy_timeout_ms / 1000


def _locked(exc: OperationalError) -> bool:
    return "locked" in str(exc)
