"""The client's pages: a survey rating, its comment, unsubscribing. Public (the signed link is the
authority), small, in the client's language, and working without JavaScript.

Opening a rating link records nothing: mail security scanners fetch every link of a mail before
its reader does, and the sandboxing ones (Defender Safe Links, Proofpoint, Mimecast) run the
page's scripts too. So the page states the choice, with a box for a comment, and a person sends
it with its button, as Zendesk's rating page does; no script sends anything. The forms carry no
CSRF token: the link's signature is what a forger would need, and one-click unsubscribing
(RFC 8058) is a POST from the mail provider itself.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from actions import notices, surveys
from actions.result import Refused
from mailer import tokens
from models.tables import Customer, Survey, Ticket
from workers.outgoing import enqueue_deliveries

from . import csrf
from .text import row_number

bp = Blueprint("surveys", __name__)
csrf.exempt(bp)

# The admin's policy, without scripts: the client's pages run none.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@bp.get("/survey/<token>")
def show(token: str):
    settings = current_app.config["POSTDESK"]
    link, survey = _survey(token)
    if survey is None:
        return _page("invalid", "en", 404)
    why = surveys.check_answer(settings, survey)
    if link.rating and not why:  # a rating link: confirm it by POST
        return _page("confirm", survey.language, survey=survey, rating=link.rating, token=token)
    if why and not survey.rating:
        return _page(why, survey.language, 410 if why == "expired" else 404, survey=survey)
    return _page("thanks", survey.language, survey=survey, token=_comment_token(survey), saved=bool(request.args),
                 can_comment=not why)


@bp.post("/survey/<token>")
def answer(token: str):
    settings = current_app.config["POSTDESK"]
    link, survey = _survey(token)
    if survey is None:
        return _page("invalid", "en", 404)
    rating = link.rating or _int(request.form.get("rating"))
    comment = request.form.get("comment")
    if link.rating and not (comment or "").strip():
        comment = None  # the rating page's box left empty: a comment given before stays
    try:
        if rating and rating != survey.rating:
            done = surveys.answer(settings, survey, rating, via="web", comment=comment)
        elif comment is not None:
            done = surveys.add_comment(settings, survey, comment)
        else:
            done = None
    except Refused as refused:
        reason = str(refused)
        return _page(reason, survey.language, 410 if reason == "expired" else 404, survey=survey)
    if done is not None:
        enqueue_deliveries(settings, list(done.outbox_ids))
    return redirect(url_for("surveys.show", token=_comment_token(survey), saved=1), 303)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    settings = current_app.config["POSTDESK"]
    link = tokens.read_link(settings.signing_key, token)
    customer = Customer.get_or_none(Customer.id == link.number) if link and link.kind == "u" else None
    if customer is None:
        return _page("invalid", "en", 404)
    # The language of the mail the link came in: their latest survey's, else their latest ticket's.
    latest = Survey.select(Survey.language).where(Survey.customer == customer).order_by(Survey.id.desc()).first()
    ticket = Ticket.select().where(Ticket.customer == customer).order_by(Ticket.id.desc()).first()
    language = latest.language if latest is not None else notices.client_language(
        customer, ticket.mailbox if ticket is not None else settings.mailboxes[0])
    if request.method == "POST":
        surveys.unsubscribe(customer)
        return _page("unsubscribed", language)
    return _page("unsubscribe", language, token=token)


def _survey(token: str):
    link = tokens.read_link(current_app.config["POSTDESK"].signing_key, token)
    if link is None or link.kind != "s":
        return None, None
    return link, Survey.get_or_none(Survey.id == link.number)


def _comment_token(survey: Survey) -> str:
    return tokens.link_token(current_app.config["POSTDESK"].signing_key, "s", survey.id)


def _int(value) -> int | None:
    number = row_number(value)  # ASCII digits only: "²" and "٣" are digits to str.isdigit
    return number if number is not None and 1 <= number <= 5 else None


def _page(state: str, language: str, status: int = 200, **context):
    html = render_template("web/survey.html", state=state, lang=language if language in ("en", "zh") else "en",
                           scores=surveys.SCORES, **context)
    return html, status, {"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                          "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
