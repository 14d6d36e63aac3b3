"""Customers and organisations: who they are, how they are served, and the few things staff set."""

from __future__ import annotations

import statistics

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from peewee import fn

from actions import customers as act
from models.reports import percentile
from models.tables import Customer, Survey, Ticket

from .auth import login_required
from .forms import attempt
from .text import row_number

bp = Blueprint("customers", __name__)
PAGE = 50


@bp.get("/customers")
@login_required
def index():
    """Newest first, 50 at a time by id (no OFFSET), searched by address, name or organisation."""
    text, organisation = request.args.get("q", "").strip(), request.args.get("organisation")
    after = request.args.get("after", type=row_number)
    query = Customer.select().order_by(Customer.id.desc())
    if text:
        query = query.where(Customer.email.contains(text) | Customer.name.contains(text)
                            | Customer.organisation.contains(text))  # LIKE: case-insensitive for ASCII
    if organisation is not None:
        query = query.where(Customer.organisation == organisation)
    held = bool(request.args.get("held"))
    if held:  # bouncing, complained or unsubscribed: mail to them is held back
        query = query.where((Customer.bounce_state != "") | Customer.unsubscribed_at.is_null(False))
    if after:
        query = query.where(Customer.id < after)
    found = list(query.limit(PAGE + 1))
    counts = dict(Ticket.select(Ticket.customer, fn.COUNT(Ticket.id)).where(
        Ticket.customer.in_([c.id for c in found[:PAGE]])).group_by(Ticket.customer).tuples())
    return render_template("web/customers.html", customers=found[:PAGE], counts=counts, q=text, held=held,
                           organisation=organisation, next_after=found[PAGE - 1].id if len(found) > PAGE else None)


@bp.get("/organisations")
@login_required
def organisations():
    rows = (Customer.select(Customer.organisation, fn.COUNT(Customer.id).alias("people"))
            .where(Customer.organisation != "").group_by(Customer.organisation)
            .order_by(fn.COUNT(Customer.id).desc(), Customer.organisation).limit(500).dicts())
    return render_template("web/organisations.html", organisations=list(rows))


@bp.get("/customers/<int:customer_id>")
@login_required
def show(customer_id):
    customer = Customer.get_or_none(Customer.id == customer_id) or abort(404)
    tickets = list(customer.tickets.order_by(Ticket.id.desc()).limit(200))
    waits = [(t.first_responded_at - t.created_at).total_seconds() / 3600 for t in tickets
             if t.first_responded_at and t.first_responded_at >= t.created_at]
    ratings = [r for (r,) in Survey.select(Survey.rating).where((Survey.customer == customer)
                                                                 & Survey.rating.is_null(False)).tuples()]
    settings = current_app.config["POSTDESK"]
    return render_template("web/customer.html", customer=customer, tickets=tickets,
                           first_response=percentile(waits, 0.5), average_rating=statistics.fmean(ratings)
                           if ratings else None, answers=len(ratings), tiers=settings.customers.tiers,
                           languages=act.LANGUAGES,
                           colleagues=Customer.select().where((Customer.organisation == customer.organisation)
                                                              & (Customer.id != customer.id)).limit(50)
                           if customer.organisation else [])


@bp.post("/customers/<int:customer_id>/<field>")
@login_required
def change(customer_id, field):
    customer = Customer.get_or_none(Customer.id == customer_id) or abort(404)
    settings, value = current_app.config["POSTDESK"], request.form.get("value", "")
    verbs = {
        "tier": lambda: act.set_tier(customer, value, settings=settings, actor=g.agent, via="web"),
        "language": lambda: act.set_language(customer, value, actor=g.agent, via="web"),
        "organisation": lambda: act.set_organisation(customer, value, actor=g.agent, via="web"),
        "restore": lambda: act.restore_mail(customer, actor=g.agent, via="web"),
    }
    if field not in verbs:
        abort(404)
    attempt(verbs[field])
    return redirect(url_for("customers.show", customer_id=customer.id), 303)
