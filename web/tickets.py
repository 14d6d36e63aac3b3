"""Ticket list and ticket thread pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup
from peewee import JOIN

from actions import customers as customer_actions
from actions import sla
from actions import tickets as act
from actions.result import Refused
from models.base import utcnow
from models.tables import Agent, Attachment, Customer, Event, Message, Outbox, Survey, Ticket
from workers.outgoing import enqueue_deliveries

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
    status, category = request.args.get("status", ""), request.args.get("category", "")
    page = max(request.args.get("page", 1, type=int), 1)
    query = Ticket.select(Ticket, Customer).join(Customer).order_by(Ticket.updated_at.desc())
    if status:
        query = query.where(Ticket.status == status)
    if category:  # e.g. the complaints queue
        query = query.where(Ticket.category == category)
    settings = current_app.config["POSTDESK"]
    return render_template("web/tickets.html", tickets=list(query.paginate(page, PAGE)), status=status,
                           category=category, categories=settings.tickets.categories, page=page,
                           more=query.count() > page * PAGE)


def business_minutes(value: float) -> str:
    """Business time as "2 h 05 min" or "45 min" (in hours: a business day is not 24 hours)."""
    value = round(value)
    hours, minutes = divmod(value, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def ticket_or_404(number: int) -> Ticket:
    return Ticket.get_or_none(Ticket.number == number) or abort(404)


@bp.get("/tickets/<int:number>")
@login_required
def show(number):
    """The thread, its outgoing mail and events, and the staff controls."""
    ticket = ticket_or_404(number)
    messages = ticket.messages.order_by(Message.created_at, Message.id)
    events = ticket.events.order_by(Event.created_at, Event.id)
    outgoing = ticket.outbox.order_by(Outbox.id)
    surveys = ticket.surveys.order_by(Survey.id)
    staff = [(a.email, a.name or a.email)
             for a in Agent.select().where(Agent.active == True).order_by(Agent.name)]  # noqa: E712
    settings = current_app.config["POSTDESK"]
    return render_template("web/ticket.html", ticket=ticket, messages=messages, events=events,
                           outgoing=outgoing, surveys=surveys, html_of=html_with_images, staff=staff,
                           statuses=act.STATUSES, priorities=act.PRIORITIES,
                           categories=settings.tickets.categories, tiers=settings.customers.tiers,
                           clocks=sla.clocks_of(settings, ticket, utcnow())[2], minutes=business_minutes)


@bp.post("/tickets/<int:number>/status")
@login_required
def set_status(number):
    """Change the status (pending: waiting on the customer)."""
    return _apply(number, lambda t, settings: act.set_status(t, _field("status"), settings=settings, actor=g.agent,
                                                             via="web"))


@bp.post("/tickets/<int:number>/assignee")
@login_required
def assign(number):
    """Give the ticket to an agent, or to nobody."""
    email = _field("agent")
    agent = Agent.get_or_none(Agent.email == email) if email else None
    if email and agent is None:
        abort(400)
    return _apply(number, lambda t, settings: act.assign(t, agent, actor=g.agent, via="web"))


@bp.post("/tickets/<int:number>/priority")
@login_required
def set_priority(number):
    """Change the priority."""
    return _apply(number, lambda t, settings: act.set_priority(t, _field("priority"), settings=settings,
                                                               actor=g.agent, via="web"))


@bp.post("/tickets/<int:number>/category")
@login_required
def set_category(number):
    """File the ticket under a category, or none."""
    return _apply(number, lambda t, settings: act.set_category(t, _field("category"), settings=settings,
                                                               actor=g.agent, via="web"))


@bp.post("/tickets/<int:number>/tier")
@login_required
def set_tier(number):
    """Put the ticket's customer in a tier."""
    return _apply(number, lambda t, settings: customer_actions.set_tier(t.customer, _field("tier"), settings=settings,
                                                                        actor=g.agent, via="web", ticket=t))


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@bp.post("/tickets/<int:number>/reply")
@login_required
def reply(number):
    """Send the agent's public reply to the client (and everyone on the ticket)."""
    uploads = [Upload(visible_name(f.filename or "attachment"), f.mimetype or "application/octet-stream", f.read())
               for f in request.files.getlist("attachments") if f.filename]
    return _apply(number, lambda t, settings: act.reply(settings, t, g.agent, _field("text"), via="web",
                                                        attachments=uploads))


@bp.post("/tickets/<int:number>/note")
@login_required
def note(number):
    """Add an internal note, for staff only."""
    return _apply(number, lambda t, settings: act.note(t, g.agent, _field("text"), via="web"))


@bp.post("/outbox/<int:outbox_id>/resend")
@login_required
def resend(outbox_id):
    row = Outbox.get_or_none(Outbox.id == outbox_id) or abort(404)
    try:
        done = act.resend(row, actor=g.agent, via="web")
    except Refused as refused:
        flash(str(refused), "error")
    else:
        enqueue_deliveries(current_app.config["POSTDESK"], list(done.outbox_ids))
        flash(f"The {row.kind} to {row.rcpt_to} is queued again.", "info")
    target = url_for("tickets.show", number=row.ticket.number) if row.ticket_id else url_for("tickets.outbox")
    return redirect(target, 303)


@bp.get("/outbox")
@login_required
def outbox():
    """Outgoing mail by state: dead mail (delivery gave up), to re-send once the cause is fixed."""
    state = request.args.get("state", "dead")
    rows = Outbox.select(Outbox, Ticket).join(Ticket, join_type=JOIN.LEFT_OUTER).where(Outbox.state == state) \
        .order_by(Outbox.id.desc()).limit(200)
    return render_template("web/outbox.html", rows=rows, state=state)


def _field(name: str) -> str:
    return request.form.get(name, "")


def _apply(number: int, action):
    """Run one action, `action(ticket, settings)`, and hand what it queued to the workers; a
    refusal is shown to the agent with the check's own words."""
    ticket = ticket_or_404(number)
    settings = current_app.config["POSTDESK"]
    try:
        done = action(ticket, settings)
    except Refused as refused:
        flash(str(refused), "error")
    else:
        enqueue_deliveries(settings, list(done.outbox_ids))
    return redirect(url_for("tickets.show", number=number))


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
