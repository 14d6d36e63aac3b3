"""The inbound IMAP edge: fetch new mail by UID, store it, then move or flag it on the server."""

from __future__ import annotations

import logging
import ssl
import threading

import redis
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from models import inbound
from workers import handover

from .parsing import message_id_of

log = logging.getLogger(__name__)

STORED_FLAG = b"$PostdeskStored"
TOO_BIG_FLAG = b"$PostdeskTooBig"
MAX_BACKOFF = 300
# The account's lock is a lease of this many seconds, renewed while its poller works or waits:
# when a poller dies, another one (retrying every LEASE / 5 s) takes the account over within
# about LEASE seconds. A poller that stalls past it loses the lease; the checkpoint, read in the
# storing transaction, keeps it from storing what the new one stored.
LEASE = 10


def connect(account) -> IMAPClient:
    """A logged-in client. Tests and callers may use any object with IMAPClient's methods."""
    client = IMAPClient(account.host, account.port, ssl=account.ssl, timeout=account.timeout_seconds)
    if account.starttls and not account.ssl:
        client.starttls(ssl.create_default_context())
    client.login(account.username, account.password)
    return client


class Poller:
    """One account. `sync` is one pass; `run` loops with IDLE or polling until `stop` is set,
    holding a Redis lock so only one process polls the account."""

    def __init__(self, settings, account, stop: threading.Event | None = None, connector=connect):
        self.settings, self.account = settings, account
        self.stop = stop or threading.Event()
        self.connector = connector
        self.lease = None  # the account's lock while this poller holds it
        mailbox = settings.mailbox_for(account.mailbox) if account.mailbox else settings.mailboxes[0]
        self.rcpt = (mailbox.address,)

    def sync(self, client) -> int:
        """Store every message above the checkpoint; returns how many were stored."""
        account = self.account
        info = client.select_folder(account.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        checkpoint = inbound.imap_checkpoint(account.name)
        if checkpoint.uidvalidity != uidvalidity:
            if checkpoint.uidvalidity:
                log.warning("imap %s: UIDVALIDITY changed %s → %s; rescanning %s", account.name,
                            checkpoint.uidvalidity, uidvalidity, account.folder)
            inbound.reset_imap_checkpoint(account.name, uidvalidity)
            checkpoint.last_uid = 0
        # "N:*" always matches the highest UID, even below N (RFC 3501 §6.4.8): filter.
        uids = sorted(u for u in client.search(["UID", f"{checkpoint.last_uid + 1}:*"]) if u > checkpoint.last_uid)
        stored = 0
        for uid in uids:
            if self.stop.is_set():
                break
            self.renew()
            stored += self._store(client, uidvalidity, uid)
        self._tidy(client, max(uids or [checkpoint.last_uid]))
        return stored

    def _store(self, client, uidvalidity: int, uid: int) -> bool:
        """Store one message (or its refusal); False when another poller already had."""
        limit = self.settings.smtp.max_message_bytes
        size = client.fetch([uid], ["RFC822.SIZE"]).get(uid, {}).get(b"RFC822.SIZE", 0)
        if size > limit:
            reason = f"message of {size} bytes is over the {limit}-byte limit; left on the server"
            if inbound.store_from_imap(b"", "", self.account.name, self.rcpt, uidvalidity, uid,
                                       rejected=reason) is None:
                return False
            client.add_flags([uid], [TOO_BIG_FLAG])
            log.error("imap %s uid %d: %s", self.account.name, uid, reason)
            return True  # as a refusal, with its reason
        # BODY.PEEK leaves \Seen alone: people may read the same mailbox.
        raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        message_id = message_id_of(raw)
        inbound_id = inbound.store_from_imap(raw, message_id, self.account.name, self.rcpt, uidvalidity, uid)
        if inbound_id is None:
            log.warning("imap %s uid %d: stored already by the poller that took over", self.account.name, uid)
            return False
        log.info("%s stored as inbound %d (imap %s uid %d)", message_id, inbound_id,
                 self.account.name, uid)
        handover.enqueue_processing(self.settings, [inbound_id])
        return True

    def _tidy(self, client, last_uid: int) -> None:
        """Move or flag what is stored, only ever up to the checkpoint; a failed move is retried
        on the next pass because it is looked for again."""
        if last_uid < 1:
            return
        criteria = ["UID", f"1:{last_uid}", "UNKEYWORD", TOO_BIG_FLAG]  # refused mail stays put
        if not self.account.move_to:
            criteria += ["UNKEYWORD", STORED_FLAG]
        done = [u for u in client.search(criteria) if u <= last_uid]
        if done and self.account.move_to:
            client.move(done, self.account.move_to)
        elif done:
            client.add_flags(done, [STORED_FLAG])

    def wait(self, client) -> None:
        """Until the server reports news (IDLE) or the poll interval passes."""
        remaining, step = float(self.account.poll_seconds), LEASE / 3
        if self.account.use_idle and b"IDLE" in client.capabilities():
            client.idle()
            try:
                while remaining > 0 and not self.stop.is_set():
                    if client.idle_check(timeout=min(step, remaining)):
                        break
                    remaining -= step
                    self.renew()
            finally:
                client.idle_done()
        else:
            while remaining > 0 and not self.stop.wait(min(step, remaining)):
                remaining -= step
                self.renew()

    def renew(self) -> None:
        """Extend the lease (raises LockNotOwnedError when it lapsed: another poller may have it)."""
        if self.lease is not None:
            self.lease.reacquire()

    def run(self) -> None:
        from postdesk import runtime

        backoff = 1
        lock = None
        while not self.stop.is_set():
            client = None
            try:
                lock = lock or self._lock()
                if not lock.acquire(blocking=False):
                    log.debug("imap %s: another poller holds the lock", self.account.name)
                    self.stop.wait(min(self.account.poll_seconds, LEASE / 5))
                    continue
                self.lease = lock
                client = self.connector(self.account)
                backoff = 1
                while not self.stop.is_set():
                    self.renew()
                    self.sync(client)
                    runtime.record_run(self.settings, f"imap:{self.account.name}")  # /metrics: fetch age
                    self.wait(client)
            except (TimeoutError, IMAPClientError, OSError, redis.RedisError) as exc:
                log.warning("imap %s: %s; reconnecting in %ds", self.account.name, exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                _logout(client)
                _release(lock)
                self.lease = None

    def _lock(self):
        from postdesk import runtime

        return runtime.redis_connection(self.settings).lock(
            f"{self.settings.redis.queue_prefix}:imap-lock:{self.account.name}", timeout=LEASE)


def _release(lock) -> None:
    try:
        if lock is not None and lock.owned():
            lock.release()
    except redis.RedisError:  # expired or Redis gone: the TTL frees it anyway
        pass


def _logout(client) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:  # the connection may already be gone
        pass
