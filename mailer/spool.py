"""The one thing every edge does with a mail: store the raw bytes durably, then enqueue the id."""

from __future__ import annotations

import logging

from models import inbound

from .parsing import message_id_of

log = logging.getLogger(__name__)

class StorageError(Exception):
    """The mail could not be stored; the sender must be told to try again later."""


def receive(settings, raw: bytes, source: str, mail_from: str = "", rcpt_to: tuple[str, ...] = (),
            batcher=None) -> int:
    """Store, then enqueue. Returns the InboundMail id once the bytes are committed; raises
    StorageError when they are not. A Redis failure after storing is logged, not raised: the
    sweeper enqueues stored mail that no job took."""
    from workers import jobs  # edges import the worker API only when they receive

    try:
        inbound_id = inbound.store(raw, source, mail_from, rcpt_to)
    except Exception as exc:
        log.error("%s from %s could not be stored: %s", message_id_of(raw), source, exc)
        raise StorageError(str(exc)) from exc
    log.info("%s stored as inbound %d (%s, %d bytes)", message_id_of(raw), inbound_id, source, len(raw))
    if batcher is not None:
        batcher.add(inbound_id)
    else:
        jobs.enqueue_processing(settings, [inbound_id])
    return inbound_id
