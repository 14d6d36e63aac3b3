"""What the pipeline makes of a message, as one JSON-ready dict, without storing anything."""

from __future__ import annotations

from . import bounces, classify, parsing, quotes


def describe(raw: bytes) -> dict:
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
        "reply_text": quotes.extract_reply(mail.reply_basis),
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "inline": a.inline} for a in mail.attachments],
        "auto_reply": bool(classify.auto_reply_reason(mail)) and bounce is None,
        "bounce": {"is_bounce": bounce is not None,
                   "permanent": bounce.permanent if bounce else [],
                   "temporary": bounce.temporary if bounce else []},
    }


def _person(name: str, address: str) -> dict:
    return {"name": name, "address": address}
