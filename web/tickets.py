"""Ticket list and ticket thread pages."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from models.tables import Customer, Event, Message, Outbox, Ticket

from .auth import login_required

bp = Blueprint("tickets", __name__)

PAGE = 50


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
                           outgoing=outgoing)
