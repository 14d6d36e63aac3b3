"""Ticket list and ticket thread pages."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from peewee import JOIN, SQL, Tuple, fn

from actions import customers as customer_actions
from actions import sla
from actions import tickets as act
from actions.result import Refused
from mailer import htmltext
from models import attachments, search
from models.base import db, utcnow
from models.tables import Agent, Attachment, Customer, Event, Mailbox, Message, Outbox, Survey, Ticket
from workers.outgoing import enqueue_deliveries

from . import CSP
from .auth import local_target, login_required
from .forms import attempt, said
from .text import row_number, visible_name

bp = Blueprint("tickets", __name__)
# Stored names may carry bidi overrides ("invoice\u202efdp.exe" shows as "invoiceexe.pdf"): they are
# cleaned where they are shown and where they are sent back.
bp.add_app_template_filter(visible_name)

PAGE = 50
# Served inline (shown in the page); anything else downloads, so no uploaded HTML or SVG runs.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
CID = re.compile(r"""(src=["'])cid:([^"']+)(["'])""", re.I)
REMOTE_IMAGE = re.compile(r"""<img[^>]+src=["']https?://""", re.I)


# The queues agents work from: name → (label, statuses, condition). Each is read one status at a
# time, each read an index range in the queue's order (ticket (status, due) or (status, updated)),
# and the pieces merged; "all" has no count (a COUNT(*) over the whole table per page is what a
# million tickets cannot afford).
WORKING = ("new", "open")
QUEUES = {
    "unassigned": (_l("Unassigned"), WORKING, lambda now: Ticket.assignee.is_null()),
    "mine": (_l("Mine"), (*WORKING, "pending"), lambda now: Ticket.assignee == g.agent.id),
    "due_soon": (_l("Due soon"), WORKING, lambda now: (Ticket.sla_due > now) & (Ticket.sla_due <= now + DUE_SOON)),
    "breached": (_l("Breached"), WORKING, lambda now: Ticket.sla_due <= now),
    "waiting": (_l("Waiting on client"), ("pending",), None),
    "resolved": (_l("Resolved"), ("resolved",), None),
    "all": (_l("All"), act.STATUSES, None),
}
DUE_SOON = dt.timedelta(hours=2)
DUE_SORTED = ("unassigned", "mine", "due_soon", "breached")
FILTERS = ("status", "priority", "category", "tier", "mailbox", "assignee")
SORTS = ("due", "updated")
# Tickets without a running clock come last when sorted by due. A literal, not a parameter: the
# indexes on (status, COALESCE(sla_due, …)) serve only the very same expression (migration 12).
NO_DUE = dt.datetime(9999, 12, 31)
DUE = fn.COALESCE(Ticket.sla_due, SQL("'9999-12-31 00:00:00'"))


@bp.get("/")
@login_required
def index():
    """A queue, filtered and searched, sorted by SLA due time or last update, 50 at a time by
    keyset (the page after the last row shown; no OFFSET)."""
    settings, now = current_app.config["POSTDESK"], utcnow()
    queue = request.args.get("queue", "all")
    if queue not in QUEUES:
        abort(404)
    _, statuses, condition = QUEUES[queue]
    chosen = {name: request.args.get(name, "") for name in FILTERS}
    # Queues of running clocks sort by due time; the others (nothing runs there) by last update.
    text = request.args.get("q", "").strip()
    sort = request.args.get("sort", "due" if queue in DUE_SORTED else "updated")
    whole = Ticket.select(Ticket, Customer, Agent).join(Customer).switch(Ticket) \
        .join(Agent, JOIN.LEFT_OUTER, on=Ticket.assignee)
    query = whole
    if condition is not None:
        query = query.where(condition(now))
    query, matches = _filtered(query, chosen, text)
    if chosen["status"]:
        statuses = [s for s in statuses if s == chosen["status"]]
    # Where every ticket has a due time the plain column sorts; elsewhere tickets without one come last.
    due = Ticket.sla_due if queue in ("due_soon", "breached") else DUE
    if sort == "due":
        order, key = (due, Ticket.id), lambda k: (k[1] or NO_DUE, k[0])
    else:
        order, key = (Ticket.updated_at.desc(), Ticket.id.desc()), lambda k: (k[2], k[0])
    after = _cursor(request.args.get("after", ""))
    if after is not None:  # row values: one index range (an OR of the two made SQLite sort the queue)
        value, ticket_id = after
        if sort == "due":
            query = query.where(Tuple(due, Ticket.id) > Tuple(value, ticket_id))
        else:
            query = query.where(Tuple(Ticket.updated_at, Ticket.id) < Tuple(value, ticket_id))
    if sort == "updated" and len(statuses) == len(act.STATUSES) and matches is None:
        # Every ticket by last update: one read of that index (or of priority's, then last update).
        rows = list(query.order_by(*order).limit(PAGE + 1))
    else:
        # The page's tickets chosen by their sort keys alone (cheap rows), then read whole.
        keys = query.select(Ticket.id, Ticket.sla_due, Ticket.updated_at).tuples()
        if matches is not None:  # at most search.MATCHES tickets, sorted here
            found = list(keys.where(Ticket.status.in_(statuses)) if len(statuses) < len(act.STATUSES) else keys)
        else:  # one index range per status, each in the page's order
            found = [k for status in statuses for k in keys.where(Ticket.status == status).order_by(*order)
                     .limit(PAGE + 1)]
        page = [k[0] for k in sorted(found, key=key, reverse=sort != "due")[:PAGE + 1]]
        rows = sorted(whole.where(Ticket.id.in_(page or [0])),  # chosen by the conditions already
                      key=lambda t: key((t.id, t.sla_due, t.updated_at)), reverse=sort != "due")
    last = rows[PAGE - 1] if len(rows) > PAGE else None
    following = None if last is None else \
        f"{(last.sla_due or NO_DUE) if sort == 'due' else last.updated_at:%Y-%m-%dT%H:%M:%S.%f}|{last.id}"
    counts = {name: _capped_count(names, cond(now) if cond else None)
              for name, (_, names, cond) in QUEUES.items() if name != "all"}
    staff = list(Agent.select().where(Agent.active == True).order_by(Agent.name))  # noqa: E712
    choices = {"status": _pairs(act.STATUSES), "priority": _pairs(act.PRIORITIES),
               "tier": _pairs(settings.customers.tiers), "category": _pairs(settings.tickets.categories),
               "mailbox": _pairs(m.address for m in settings.mailboxes),
               "assignee": [("none", gettext("nobody"))] + [(str(a.id), a.name or a.email) for a in staff]}
    next_url = following and url_for("tickets.index", queue=queue, q=text or None, sort=sort, after=following,
                                     **{k: v for k, v in chosen.items() if v})
    return render_template("web/tickets.html", tickets=rows[:PAGE], queue=queue, queues=QUEUES, counts=counts,
                           chosen=chosen, choices=choices, q=text, sort=sort, next_url=next_url, now=now,
                           statuses=act.STATUSES, priorities=act.PRIORITIES, staff=staff,
                           search_capped=matches is not None and len(matches) >= search.MATCHES,
                           search_limit=search.MATCHES)


COUNT_CAP = 1000


def _capped_count(statuses, condition) -> int:
    """How many tickets a queue holds, counted up to COUNT_CAP (shown as "999+"): counting a
    queue of a quarter of a million tickets on every page view is what a busy desk cannot afford."""
    count = 0
    for status in statuses:
        capped = Ticket.select(SQL("1")).where(Ticket.status == status)
        if condition is not None:
            capped = capped.where(condition)
        count += Ticket.select(fn.COUNT(SQL("*"))).from_(capped.limit(COUNT_CAP - count).alias("capped")).scalar()
        if count >= COUNT_CAP:
            break
    return count


def _pairs(values) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


def _filtered(query, chosen: dict, text: str):
    """The query narrowed by the filters chosen and the text typed; with the ticket ids the text
    matched (None when no text was typed)."""
    if chosen["status"]:
        query = query.where(Ticket.status == chosen["status"])
    if chosen["priority"]:
        query = query.where(Ticket.priority == chosen["priority"])
    if chosen["category"]:  # e.g. the complaints
        query = query.where(Ticket.category == chosen["category"])
    if chosen["tier"]:  # tested per ticket: on the joined column SQLite scanned every customer (a Bloom filter)
        holder = Customer.alias("holder")
        query = query.where(fn.EXISTS(holder.select(SQL("1")).where((holder.id == Ticket.customer)
                                                                     & (holder.tier == chosen["tier"]))))
    if chosen["mailbox"]:
        query = query.where(Ticket.mailbox.in_(Mailbox.select(Mailbox.id).where(Mailbox.address == chosen["mailbox"])))
    if chosen["assignee"]:
        query = query.where(Ticket.assignee.is_null() if chosen["assignee"] == "none"
                            else Ticket.assignee == row_number(chosen["assignee"]) if row_number(chosen["assignee"])
                            else Ticket.id == 0)
    if not text:
        return query, None
    number = row_number(text.lstrip("#"))
    if number is not None:
        return query.where(Ticket.number == number), None
    matches = search.tickets(db.obj, text)
    # Up to 500 ids our own index gave, as integers written into the statement: as parameters,
    # peewee's writing them took more time than SQLite's reading the rows.
    return query.where(Ticket.id.in_(SQL("(" + ",".join(str(int(i)) for i in matches or [0]) + ")"))), matches


def _cursor(value: str) -> tuple[dt.datetime, int] | None:
    try:
        when, ticket_id = value.split("|")
        found = row_number(ticket_id)
        return (dt.datetime.strptime(when, "%Y-%m-%dT%H:%M:%S.%f"), found) if found is not None else None
    except ValueError:
        return None


@bp.post("/tickets/bulk")
@login_required
def bulk():
    """One change to the tickets ticked on a queue page, through the same actions as one at a time;
    each ticket the change is refused for is named with the reason, the others change."""
    settings = current_app.config["POSTDESK"]
    numbers = [n for n in map(row_number, request.form.getlist("ticket")) if n is not None][:PAGE]
    change, value = request.form.get("change", ""), request.form.get("value", "")
    assignee = g.agent if value == "me" else None if value == "none" else \
        Agent.get_or_none(Agent.id == row_number(value)) if row_number(value) is not None else False
    verbs = {
        "status": lambda t: act.set_status(t, value, settings=settings, actor=g.agent, via="web"),
        "priority": lambda t: act.set_priority(t, value, settings=settings, actor=g.agent, via="web"),
        "assignee": lambda t: act.assign(t, assignee, actor=g.agent, via="web"),
    }
    if change not in verbs or not numbers or (change == "assignee" and assignee is False):
        flash(gettext("Tick some tickets and choose a change."), "error")
        return redirect(local_target(request.form.get("back", ""), url_for("tickets.index")), 303)
    done, queued = 0, []
    for ticket in Ticket.select().where(Ticket.number.in_(numbers)).order_by(Ticket.number):
        try:
            result = verbs[change](ticket)
        except Refused as refused:
            flash(f"#{ticket.number}: {said(refused)}", "error")
        else:
            done += 1
            queued += list(result.outbox_ids)
    enqueue_deliveries(settings, queued)
    flash(ngettext("%(num)d ticket changed.", "%(num)d tickets changed.", done), "info")
    return redirect(local_target(request.form.get("back", ""), url_for("tickets.index")), 303)


def business_minutes(value: float) -> str:
    """Business time as "2 h 05 min" or "45 min" (in hours: a business day is not 24 hours)."""
    value = round(value)
    hours, minutes = divmod(value, 60)
    return gettext("%(hours)d h %(minutes)02d min", hours=hours, minutes=minutes) if hours \
        else gettext("%(minutes)d min", minutes=minutes)


def ticket_or_404(number: int) -> Ticket:
    return Ticket.get_or_none(Ticket.number == number) or abort(404)


@bp.get("/tickets/<int:number>")
@login_required
def show(number):
    """The thread, its outgoing mail and events, and the staff controls."""
    ticket = ticket_or_404(number)
    everything = request.args.get("thread") == "all"
    messages, earlier = _thread(ticket, everything)
    events = ticket.events.order_by(Event.created_at, Event.id)
    outgoing = ticket.outbox.order_by(Outbox.id)
    surveys = ticket.surveys.order_by(Survey.id)
    staff = [(a.email, a.name or a.email)
             for a in Agent.select().where(Agent.active == True).order_by(Agent.name)]  # noqa: E712
    settings = current_app.config["POSTDESK"]
    remote = request.args.get("images") == "remote"
    remote_images = any(REMOTE_IMAGE.search(m.html) for m in messages if m.html)
    page = render_template("web/ticket.html", ticket=ticket, messages=messages, events=events,
                           outgoing=outgoing, surveys=surveys, html_of=html_with_images, staff=staff,
                           statuses=act.STATUSES, priorities=act.PRIORITIES,
                           categories=settings.tickets.categories, tiers=settings.customers.tiers,
                           clocks=sla.clocks_of(settings, ticket, utcnow())[2], minutes=business_minutes,
                           remote=remote, remote_images=remote_images, earlier=earlier)
    # Remote images (tracking pixels tell the sender when and where a mail was read) load only
    # when the agent asks, for this page view: the policy then allows https images, nothing more.
    if not remote:
        return page
    return page, 200, {"Content-Security-Policy": CSP.replace("img-src 'self' data:", "img-src 'self' data: https:")}


SHOWN = 30  # the newest messages of a thread shown at first; the earlier ones one click away


def _thread(ticket: Ticket, everything: bool) -> tuple[list[Message], int]:
    """The thread in order, its newest SHOWN messages unless everything is asked for, with its
    authors and its attachments' descriptions (not their data) read in one query each; and how
    many earlier messages are not shown."""
    query = Message.select(Message, Agent).join(Agent, JOIN.LEFT_OUTER, on=Message.author_agent) \
        .where(Message.ticket == ticket.id).order_by(Message.created_at.desc(), Message.id.desc())
    messages = list(reversed(query if everything else query.limit(SHOWN + 1)))
    earlier = 0
    if len(messages) > SHOWN and not everything:
        messages = messages[1:]
        earlier = ticket.messages.count() - SHOWN
    files: dict[int, list] = {m.id: [] for m in messages}
    for a in Attachment.select(*[f for f in Attachment._meta.sorted_fields if f is not Attachment.data]) \
            .where(Attachment.message.in_(list(files))).order_by(Attachment.id):
        files[a.message_id].append(a)
    for m in messages:
        m.files = files[m.id]
    return messages, earlier


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


@bp.post("/tickets/<int:number>/collaborators")
@login_required
def collaborators(number):
    """Copy someone on the ticket (they receive its public replies), or take them off."""
    address = _field("address")
    if request.form.get("remove"):
        return _apply(number, lambda t, settings: act.remove_collaborator(t, address, actor=g.agent, via="web"))
    return _apply(number, lambda t, settings: act.add_collaborator(t, address, settings=settings, actor=g.agent,
                                                                   via="web"))


@bp.post("/tickets/<int:number>/merge")
@login_required
def merge(number):
    """Merge this ticket into the one named (its thread moves there)."""
    target = request.form.get("into", "").strip().lstrip("#")
    into = Ticket.get_or_none(Ticket.number == row_number(target)) if row_number(target) is not None else None
    ticket = ticket_or_404(number)
    settings = current_app.config["POSTDESK"]
    if attempt(lambda: act.merge(ticket, into, settings=settings, actor=g.agent, via="web")) is None:
        return redirect(url_for("tickets.show", number=number), 303)
    flash(gettext("#%(source)s is merged into this ticket.", source=number), "info")
    return redirect(url_for("tickets.show", number=into.number), 303)


@bp.post("/tickets/<int:number>/messages/<int:message_id>/split")
@login_required
def split(number, message_id):
    """Make a message threaded onto the wrong ticket a ticket of its own."""
    ticket = ticket_or_404(number)
    done = attempt(lambda: act.split(ticket, Message.get_or_none(Message.id == message_id),
                                     settings=current_app.config["POSTDESK"], actor=g.agent, via="web"))
    if done is None:
        return redirect(url_for("tickets.show", number=number), 303)
    flash(gettext("The message is ticket #%(number)s now.", number=done.ticket.number), "info")
    return redirect(url_for("tickets.show", number=done.ticket.number), 303)


@bp.post("/outbox/<int:outbox_id>/resend")
@login_required
def resend(outbox_id):
    row = Outbox.get_or_none(Outbox.id == outbox_id) or abort(404)
    done = attempt(lambda: act.resend(row, actor=g.agent, via="web"))
    if done is not None:
        enqueue_deliveries(current_app.config["POSTDESK"], list(done.outbox_ids))
        flash(gettext("The %(kind)s to %(address)s is queued again.", kind=row.kind, address=row.rcpt_to), "info")
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
    done = attempt(lambda: action(ticket, settings))
    if done is not None:
        enqueue_deliveries(settings, list(done.outbox_ids))
    return redirect(url_for("tickets.show", number=number))


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id):
    part = Attachment.get_or_none(Attachment.id == attachment_id) or abort(404)
    try:
        data = attachments.content(part)
    except attachments.MissingContent as exc:
        current_app.logger.error("attachment %d of message %d: %s", part.id, part.message_id, exc)
        abort(404, gettext("This attachment's file is missing from the attachment store."))
    disposition = "inline" if part.content_type in INLINE_TYPES else "attachment"
    filename = quote(visible_name(part.filename))
    return Response(data, mimetype=part.content_type if disposition == "inline" else
                    "application/octet-stream", headers={
                        "Content-Disposition": f"{disposition}; filename*=UTF-8''{filename}",
                        "X-Content-Type-Options": "nosniff"})


def html_with_images(message) -> Markup:
    """The message's sanitised HTML, its cid: images pointing at their stored attachments."""
    by_cid = {a.content_id: a.id for a in message.files if a.content_id}

    def link(match):
        found = by_cid.get(match.group(2))
        target = url_for("tickets.attachment", attachment_id=found) if found else ""
        return f"{match.group(1)}{target}{match.group(3)}"
    # Sanitised when stored; again here (cheap) for mail stored before a rule was added, and
    # without images on the admin's own host (the mail could not know it when it was stored).
    return Markup(CID.sub(link, htmltext.clean(message.html, own_hosts=_own_hosts())))


def _own_hosts() -> frozenset[str]:
    """The host names this admin answers on: the request's, and the configured URLs'."""
    web = current_app.config["POSTDESK"].web
    urls = (request.host_url, web.base_url, web.public_url)
    return frozenset(host.rstrip(".").lower() for url in urls if url and (host := urlsplit(url).hostname))
