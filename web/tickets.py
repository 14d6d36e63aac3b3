"""Ticket list and ticket thread pages."""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request, url_for
from markupsafe import Markup

from models.tables import Attachment, Customer, Event, Message, Outbox, Ticket

from .auth import login_required
from .text import visible_name

bp = Blueprint("tickets", __name__)
# Stored names may carry bidi overrides ("invoice\u202efdp.exe" shows as "invoiceexe.pdf"): they are
# cleaned where they are shown and where they are sent back.
bp.add_app_template_filter(visible_name)

PAGE = 50
# Served inline (shown in the page); anything else downloads, so no uploaded HTML or SVG runs.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
CID = re.compile(r"""(src=["'])cid:([^"']+)(["'])""", re.I)


@bp.get("/")
@login_required
def index():
    status = request.args.get("status", "")
    page = max(request.args.get("page", 1, type=int), 1)
    query = Ticket.select(Ticket, Customer).join(Customer).order_by(Ticket.updated_at.desc())
    if status:
        query = query.where(Ticket.status == status)
    return render_template("web/tickets.html", tickets=list(query.paginate(page, PAGE)),
                           status=status, page=page, more=query.count() > page * PAGE)


@bp.get("/tickets/<int:number>")
@login_required
def show(number):
    ticket = Ticket.get_or_none(Ticket.number == number) or abort(404)
    messages = ticket.messages.order_by(Message.created_at, Message.id)
    events = ticket.events.order_by(Event.created_at, Event.id)
    outgoing = ticket.outbox.order_by(Outbox.id)
    return render_template("web/ticket.html", ticket=ticket, messages=messages, events=events,
                           outgoing=outgoing, html_of=html_with_images)


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id):
    part = Attachment.get_or_none(Attachment.id == attachment_id) or abort(404)
    disposition = "inline" if part.content_type in INLINE_TYPES else "attachment"
    filename = quote(visible_name(part.filename))
    return Response(bytes(part.data), mimetype=part.content_type if disposition == "inline" else
                    "application/octet-stream", headers={
                        "Content-Disposition": f"{disposition}; filename*=UTF-8''{filename}",
                        "X-Content-Type-Options": "nosniff"})


def html_with_images(message) -> Markup:
    """The message's sanitised HTML, its cid: images pointing at their stored attachments."""
    by_cid = {a.content_id: a.id for a in message.attachments if a.content_id}

    def link(match):
        found = by_cid.get(match.group(2))
        target = url_for("tickets.attachment", attachment_id=found) if found else ""
        return f"{match.group(1)}{target}{match.group(3)}"
    return Markup(CID.sub(link, message.html))  # nh3-sanitised when stored
