"""What the pipeline makes of a message, as one JSON-ready dict, without storing anything."""

from __future__ import annotations

from . import bounces, classify, parsing, quotes, reports


def describe(raw: bytes, ours: frozenset[str] | tuple[str, ...] = ()) -> dict:
    """`ours`: our mailbox addresses, which the reply cut knows our quoted mail by."""
    mail = parsing.parse(raw)
    bounce = bounces.detect(mail)
    return {
        "message_id": None if mail.message_id_generated else mail.message_id,
        "from": _person(mail.from_name, mail.from_address) if mail.from_address else None,
        "to": [_person(n, a) for n, a in mail.to],
        "cc": [_person(n, a) for n, a in mail.cc],
        "subject": mail.subject,
        "date": mail.date.strftime("%Y-%m-%dT%H:%M:%SZ") if mail.date else None,
        "in_reply_to": mail.in_reply_to[0] if mail.in_reply_to else None,
        "references": mail.references,
        "text": mail.text,
        "html": mail.html or None,
        "reply_text": quotes.extract_reply(mail.reply_basis, ours),
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "inline": a.inline} for a in mail.attachments],
        # A success report, a read receipt: written by a robot, answered by nobody.
        "auto_reply": bool(classify.auto_reply_reason(mail)) if bounce is None else not _is_bounce(bounce),
        "bounce": {"is_bounce": _is_bounce(bounce),
                   "kind": bounce.kind if bounce else None,
                   "permanent": bounce.permanent if bounce else [],
                   "temporary": bounce.temporary if bounce else [],
                   "complained": bounce.complained if bounce else []},
        "complaint": bounce is not None and bounce.kind == reports.COMPLAINT,
    }


def _is_bounce(bounce) -> bool:
    """A failure or a delay. A complaint counts too, as the feedback loops' own reports are
    labelled (the shared corpus does): `complaint` tells it apart, and it marks nobody bouncing."""
    return bounce is not None and (bounce.is_failure or bounce.kind == reports.COMPLAINT)


def _person(name: str, address: str) -> dict:
    return {"name": name, "address": address}
