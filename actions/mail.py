"""Actions for mail that comes in: a customer's message, an agent's note, a bounce."""

from __future__ import annotations

import dataclasses
import logging
import re

from mailer import classify, commands, identity, language, parsing, quotes, threading, tnef
from mailer.addresses import without_tag
from mailer.reasons import Reason
from models import customers, tickets
from models.base import db, utcnow
from models.tables import Agent
from servicelevels import rules

from . import customers as customer_actions
from . import notices, sla, surveys
from . import tickets as staff
from .result import Done

log = logging.getLogger(__name__)


def receive_customer_mail(settings, mail, *, ticket, follow_up_of, mailbox, threaded_by: str,
                          reply_text: str, inbound_id: int | None, automatic: bool, notify: bool,
                          at, found_customer=customers.NOT_LOOKED, conflict: dict | None = None,
                          historic: bool = False, unanswerable: str = "", unproven_agent=None,
                          unproven_why: str = "unproven") -> Done:
    """A customer's mail: a new ticket (acknowledged) or a message on `ticket`. Only the ticket's
    customer brings the people they copy in as participants (whose [#N] tags are trusted): anyone
    who knows a Message-ID of the thread can answer it. Someone who is neither the customer nor a
    participant is recorded as an outsider. `unanswerable`: why no acknowledgement may answer the
    mail (a null sender, a mailing list, a no-reply address, spam); the ticket opens all the same.
    `unproven_agent`: the agent whose address wrote without their token or our MTA's proof; the
    mail is a client's, and the agent is told it went to no client (they may think they answered;
    if it was forged, they learn of it). `unproven_why`: "not_theirs" when another address wrote
    to that agent's own reply address (their alias or shared mailbox, or someone it leaked to);
    "no_proof" when it came to that address without the DKIM proof our MTA gives their mail."""
    if ticket is not None:
        ticket = staff.surviving(ticket)  # mail for a ticket merged into another goes there
    elif follow_up_of is not None:
        follow_up_of = staff.surviving(follow_up_of)
    # One transaction, or a part of the caller's (the pipeline's savepoint for this mail, which
    # also records the mail's outcome): a second savepoint inside that one would change nothing.
    # Its events are written together at the end.
    with db.transaction(), tickets.events_held():
        tier = rules.tier_for(settings.customers.rules, settings.customers.default_tier, mail.from_address)
        customer = customers.find_or_create(mail.from_address, mail.from_name, found=found_customer, tier=tier)
        copied = [(n, a) for n, a in mail.to + mail.cc  # mailbox_for also covers support+tag@
                  if "@" in a and a != customer.email and settings.mailbox_for(a) is None]
        if ticket is None:
            ticket = tickets.open_ticket(tickets.sync_mailbox(mailbox), customer, mail.subject,
                                         settings.tickets.number_start, follow_up_of=follow_up_of, at=at,
                                         category=rules.category_for(settings.tickets.category_rules, mail.subject,
                                                                     mail.text, mailbox.address),
                                         last_contact_at=None if automatic else at,
                                         updated_at=None if historic else utcnow())
            outcome, outsider, alongside = "new_ticket", False, False
        else:
            outcome, outsider = "added", not customers.is_on_ticket(ticket, customer.email)
            alongside = outsider and threading.writes_alongside(ticket, customer.email, mail)
            if alongside and ticket.customer.organisation:
                # A colleague of a customer known to belong to an organisation (set by an agent or
                # the customer import) joins the ticket and receives its replies. Without that, a
                # shared domain threads their mail but is not tie enough: it stays an outsider's.
                customers.add_participants(ticket, [(mail.from_name, customer.email)])
                tickets.record(ticket, "collaborator_added", f"{customer.email} (a colleague writing with the "
                               f"customer in copy)", actor=customer.email, via="email", new=customer.email)
                outsider = False
        if conflict:
            tickets.record(ticket, "threading_conflict", _conflict_text(conflict), actor="postdesk", via="email",
                           new=conflict)
        if outcome == "added" and not automatic and not outsider and ticket.status in ("resolved", "closed"):
            answered = surveys.answer_by_mail(settings, ticket, customer, mail, reply_text)
            if answered is not None:
                return Done("survey_response", ticket, answered.outbox_ids)
            surveys.cancel(ticket, f"{customer.email} wrote again")
        review = "; ".join(mail.problems)
        held = {}  # the ticket's changed fields, written with its clocks: one UPDATE per mail
        message = tickets.add_inbound_message(
            ticket, customer, mail, reply_text=reply_text, threaded_by=threaded_by, inbound_id=inbound_id,
            automatic=automatic, at=at, review_reason=review, outsider=outsider, held=held)
        if review:
            tickets.record(ticket, "needs_review", review[:1000], actor="postdesk", via="email",
                           new={"reasons": list(mail.problems)})
        if outsider:
            tickets.record(ticket, "outsider", f"{customer.email} is not on this ticket "
                           f"(threaded by {threaded_by}); nobody they copied was added" + (
                               "; they share the customer's domain and wrote with them in copy: add them as a "
                               "collaborator, or set the customer's organisation, to send them the replies"
                               if alongside else ""),
                           actor=customer.email, via="email",
                           new={"address": customer.email, "threaded_by": threaded_by, "alongside": alongside})
            log.warning("%s from %s, who is not on ticket #%s", mail.message_id, customer.email, ticket.number)
        if not automatic and outcome == "added" and sla.awaits_overdue_answer(ticket):
            sla.complain(settings, ticket, f"{customer.email} wrote while owed an answer past its SLA", held=held)
        sla.recompute(settings, ticket, via="email", new=outcome == "new_ticket",
                      held=held, settle=historic)
        if automatic:
            return Done("auto_reply", ticket)
        if not customer.language and customer.id == ticket.customer_id:
            customers.set_language(customer, language.detect(f"{mail.subject}\n{reply_text or mail.text}",
                                                             mail.charsets))
        customers.clear_bounce(customer)
        if customer.id == ticket.customer_id and copied:  # not a participant's reply-all, not an outsider
            _copy_in(ticket, customer, copied)
        ack = None
        if outcome == "new_ticket" and unanswerable:  # imported too: it withholds later automatic mail
            tickets.record(ticket, "acknowledgement_withheld", unanswerable, actor="postdesk", via="email",
                           new={"reason": unanswerable, "lasting": classify.is_lasting(unanswerable)})
        elif outcome == "new_ticket" and notify:
            ack = notices.acknowledge(settings, ticket, customer, message)
        told = notices.notify_staff(settings, ticket, message, event=outcome, author=customer.email,
                                    outsider=outsider) if notify else []
        if unproven_agent is not None and notify and not (unproven_why == "not_theirs" and not outsider):
            # (the ticket's own client or a participant answering the agent's mail with reply-all
            # is just that: their mail, no misdirected answer of the agent's)
            why = {"not_theirs": Reason(
                "it came to your reply address from %(address)s, which is not an address of your login, so it was "
                "kept as that sender's mail and nothing reached the client; if the address is yours, an admin can "
                "add it to your login (postdesk create-agent --also)", address=customer.email),
                "no_proof": Reason(
                "it came to your reply address without your mail server's DKIM proof, which our mail server checks, "
                "so it was kept as a client's mail and nothing reached the client; send it from your own mail "
                "account, or answer in the admin")}.get(unproven_why, UNPROVEN)
            told += notices.tell_agent_not_applied(settings, ticket, unproven_agent, [why], mail.message_id)
            tickets.record(ticket, "agent_unproven", f"{customer.email} wrote as {unproven_agent.email} without "
                           f"being proven theirs: kept as a client's mail", actor=customer.email, via="email")
    return Done(outcome, ticket, ((ack.id,) if ack is not None else ()) + tuple(row.id for row in told))


# People a client's copies bring onto a ticket, at most (Zendesk caps a ticket's CCs at 48): each
# public reply goes to every one of them, so a mail copied to hundreds would have the support
# address write to hundreds of strangers. Agents can still add more by hand.
MAX_COPIED = 48


def _copied_by_agent(settings, ticket, mail) -> list[tuple[str, str]]:
    """The people an agent's public answer went to besides the ticket: they join it as the
    customer's copies do (Zendesk's and Freshdesk's CCs by mail). Not copies: the ticket's
    customer (under a +tag too), our mailboxes (the agent's reply address among them), staff
    past and present, and an address on our mailboxes' domains that has never written to us (an
    alias of ours, a colleague's)."""
    customer = without_tag(ticket.customer.email.lower())
    return [(name, address) for name, address in mail.to + mail.cc
            if "@" in address and without_tag(address.lower()) != customer and settings.mailbox_for(address) is None
            and not identity.is_staff_address(address)
            and (address.rpartition("@")[2].lower() not in settings.mailbox_domains or customers.find(address))]


def _had_it(mail) -> frozenset[str]:
    """The addresses (lower case, and without their +tags) an agent's own mail went to."""
    return frozenset(form for _, address in mail.to + mail.cc
                     for form in (address.lower(), without_tag(address.lower())))


def _copy_in(ticket, customer, copied: list[tuple[str, str]], by: str = "") -> None:
    """The people the ticket's customer (or an agent, `by`) copied become participants, up to
    MAX_COPIED on the ticket; those left out are named in an event."""
    on = customers.participant_addresses(ticket)
    seen, new = set(on) | identity.agent_addresses_among([a for _, a in copied]), []  # staff see it anyway
    for name, address in copied:
        if address not in seen:
            seen.add(address)
            new.append((name, address))
    room = max(MAX_COPIED - len(on), 0)
    customers.add_participants(ticket, new[:room])
    if new[room:]:
        left_out = [address for _, address in new[room:]]
        copier = by or customer.email
        tickets.record(ticket, "participants_not_added", f"{len(left_out)} people copied by {copier} were not "
                       f"added: a ticket takes at most {MAX_COPIED} from copies", actor="postdesk",
                       via="email", new={"addresses": left_out[:200], "count": len(left_out)})


def _conflict_text(conflict: dict) -> str:
    names = {"in_reply_to": "In-Reply-To", "subject_tag": "the [#N] tag", "references": "References"}
    others = [f"{names[k]} named #{v}" for k, v in conflict.items() if k != "chosen"]
    return f"{' and '.join(others)}; {names[conflict['chosen']]} was followed"


def answer_from_agent(settings, ticket, agent, mail, *, reply_text: str, inbound_id: int | None,
                      note: bool = False) -> Done:
    """A proven agent's mail on a ticket: `#commands` at its top change the ticket, `#note` or the
    note address (`note`) keeps it internal, anything else is their public reply to the client.
    What they wrote is what stands above the notice's marker (without the quote header their
    client put there), or below the quoted notice when nothing is above it; else the quote rules'
    cut. Nothing of the notice reaches the client, nor a closing alone ("Best regards,"). A
    forwarded mail is kept as a note: a forward to the support address is for staff. A wrong
    command applies nothing, and a mail with nothing to apply or send sends nothing: the agent is
    told either way."""
    ticket = staff.surviving(ticket)
    names = _names(agent)
    notice_header = (ticket.mailbox.address, *names[2:])  # the notice's From, and its To: one of the agent's
    text = quotes.tidy(quotes.drop_named_signature(_their_text(quotes.without_pgp_armour(mail.text),
                                                               quotes.without_pgp_armour(reply_text), notice_header),
                                                   names))
    parsed = commands.parse(text)
    body, pasted = _pasted_images("" if quotes.is_sign_off(parsed.text) else parsed.text.strip(), mail.attachments)
    attachments = [a for a in mail.attachments if not a.inline and not _wrapping(a, settings)] + pasted
    forward_subject = bool(quotes.FORWARD_SUBJECT.match(mail.subject))
    forwarded = forward_subject or quotes.is_forward(mail.text)
    errors = parsed.errors + commands.in_subject(mail.subject, ticket.subject) + [
        error for command in parsed.commands if (error := _check_command(settings, ticket, agent, command))]
    if any(a.content_type in tnef.TYPES or a.filename.lower() == "winmail.dat" for a in mail.attachments):
        errors.append(UNPACKED_WINMAIL)  # parsing keeps it only when it could not give all it holds
    if forwarded and not forward_subject and body and not (parsed.is_note or note):
        # An answer ("Re:") with a forwarded mail pasted below the agent's words: the client would
        # get the words without it, and a note would leave the agent thinking they answered.
        errors.append(Reason("your answer holds a forwarded mail below your words, so nothing was sent: the client "
                             "would get your words without it; to send it, put what matters in your words, and to "
                             "keep the mail internal, add #note at the top"))
    refusal = "command_refused"
    if not errors and not parsed.commands and not body and not (attachments and not forwarded):
        errors, refusal = [NOTHING_FOUND], "nothing_sent"
    if errors:
        with db.atomic():
            told = notices.tell_agent_not_applied(settings, ticket, agent, errors, mail.message_id)
            tickets.record(ticket, refusal, "; ".join(errors)[:1000], actor=agent.email, via="email",
                           new={"errors": errors})
        return Done("refused", ticket, tuple(row.id for row in told))
    with db.atomic():
        done = Done("commands", ticket)
        if (body or attachments) and not (parsed.is_note or note or forwarded):
            copied = _copied_by_agent(settings, ticket, mail)
            _copy_in(ticket, ticket.customer, copied, by=agent.email)
            done = staff.reply(settings, ticket, agent, body, via="email", attachments=attachments,
                               delivered=_had_it(mail))
            done = Done("relayed", ticket, done.outbox_ids)
        elif body or attachments:
            staff.note(ticket, agent, body, via="email", message_id=mail.message_id, attachments=attachments)
            done = Done("added", ticket)
        queued = list(done.outbox_ids)
        for command in parsed.commands:
            queued += _apply_command(settings, ticket, agent, command)
    return Done(done.outcome, ticket, tuple(queued))


# What an agent's mail client puts around or beside their mail, which is no file of theirs for the
# client: signatures and keys (a certificate names the agent's own address), opaque S/MIME that
# could not be opened (parsing reads the mail inside one that can; it holds the quoted notice
# too), Outlook's winmail.dat, and a mail of ours attached (Outlook's "Attach original message"
# puts our notice, with the agent's reply address, in one).
# They stay in the stored mail; the client gets the text and the files the agent attached.
WRAPPING_TYPES = frozenset({
    "application/pkcs7-signature", "application/x-pkcs7-signature", "application/pkcs7-mime",
    "application/x-pkcs7-mime", "application/pgp-signature", "application/pgp-keys", "application/pgp-encrypted",
    "application/ms-tnef", "application/vnd.ms-tnef",
})


def _wrapping(attachment, settings) -> bool:
    if attachment.content_type in ("message/rfc822", "message/global"):
        inner = parsing.parse(attachment.data)  # an .eml the agent attached on purpose goes; ours does not
        return bool(classify.loop_reason(inner, settings.mailbox_addresses))
    return attachment.content_type in WRAPPING_TYPES or attachment.filename.lower() in (
        "smime.p7s", "smime.p7m", "winmail.dat", "signature.asc")


# Where a mail client's plain text shows an image pasted into the HTML: Outlook's "[cid:image001.png@01DB…]",
# Gmail's "[image: screenshot.png]".
IMAGE_PLACE = re.compile(r"\[(?:cid:([^\]\s]{1,250})|image: ([^\]\n]{1,250}))\]")


def _pasted_images(text: str, parts) -> tuple[str, list]:
    """The agent's text and the images they pasted into it (inline parts whose place is marked
    in it), which go to the client as attachments: our reply is written as text. A logo in a
    signature that was dropped, or in the quoted notice, is not in the text, so it is not sent."""
    inline = [a for a in parts if a.inline]
    if not inline or "[" not in text:
        return text, []
    by_id = {a.content_id: a for a in reversed(inline) if a.content_id}
    by_name: dict[str, list] = {}
    for part in reversed(inline):  # Gmail names each paste "image.png": the parts in order
        by_name.setdefault(part.filename, []).append(part)
    pasted, taken = [], set()

    def place(found: re.Match) -> str:
        content_id, name = found.group(1), found.group(2)
        image = by_id.get(content_id) if content_id else None
        if image is None and name and by_name.get(name.strip()):
            image = by_name[name.strip()].pop()
        if image is None:
            return found.group(0)
        if id(image) not in taken:
            taken.add(id(image))
            pasted.append(image)
        return f"[image: {image.filename}]"

    return IMAGE_PLACE.sub(place, text), pasted


UNPROVEN = Reason("it came neither to your own reply address (the Reply-To of the notices we send you) nor with "
                  "your mail server's DKIM proof, so it was kept as a client's mail; answer from the notice, or in "
                  "the admin")
UNPACKED_WINMAIL = Reason("your mail came with Outlook's winmail.dat, of which not all could be unpacked here (an "
                          "attached Outlook item, or a text in Outlook's rich text only), so nothing was sent: attach "
                          "your files again as ordinary files, or send the mail as HTML or plain text")
NOTHING_FOUND = Reason("no text of yours and no #command were found above the line \"%(marker)s\": write your "
                       "answer above it", marker=notices.MARKER)


def _their_text(text: str, reply_text: str, addresses: tuple[str, ...] = ()) -> str:
    """What the agent wrote: above the notice's marker; when nothing is there and the notice is
    quoted ("> "), their own lines below it (bottom-posting); without a marker, the quote rules'
    cut (`reply_text`). A notice quoted without "> " (Outlook) has no end that could be told
    from an answer below it, so nothing below it is taken."""
    lines = text.replace("\r\n", "\n").split("\n")
    marked = next((index for index, line in enumerate(lines)
                   if any(words in line for words in notices.MARKER_WORDS)), None)
    if marked is None:
        start = quotes.find_quote_start(lines)
        if start is not None and not start.forward and not quotes.written_above(lines[:start.first], addresses) \
                and not any(line.lstrip().startswith(">") for line in lines[start.after:]):
            # Nothing above a history quoted without "> " (Outlook's header block): what stands
            # below is the earlier mail, not the agent's answer. Reading it as theirs would run a
            # client's "#priority urgent" with the agent's authority, and send the client their
            # own words back.
            return ""
        return reply_text
    above = quotes.written_above(lines[:marked], addresses)
    if above or not lines[marked].lstrip().startswith(">"):
        return above
    return quotes.without_signatures([line for line in lines[marked + 1:] if not line.lstrip().startswith(">")])


def open_for_client(settings, agent, mail, original, *, mailbox, inbound_id: int | None, notify: bool, at) -> Done:
    """An agent's forward of a client's mail to the support address, on no ticket we know: a
    ticket for the client who wrote it (as Zendesk and Freshdesk do with an agent's forward),
    their mail its first message, acknowledged to them as if they had written in; the agent's
    own words above the forward are a note. `original`: the forward, as `quotes.forwarded` reads it."""
    subject = original.subject or quotes.FORWARD_SUBJECT.sub("", mail.subject, count=1).strip()
    theirs = dataclasses.replace(mail, from_address=original.sender, from_name=original.sender_name, subject=subject,
                                 text=original.text, reply_basis=original.text, html="", to=[], cc=[], reply_to=[],
                                 in_reply_to=[], references=[])
    with db.atomic():
        done = receive_customer_mail(settings, theirs, ticket=None, follow_up_of=None, mailbox=mailbox,
                                     threaded_by="new", reply_text=quotes.extract_reply(original.text),
                                     inbound_id=inbound_id, automatic=False, notify=notify, at=at)
        tickets.record(done.ticket, "forwarded_by_agent", f"opened by {agent.email}, who forwarded this mail of "
                       f"{original.sender}", actor=agent.email, via="email", new={"client": original.sender})
        if original.note.strip():
            staff.note(done.ticket, agent, original.note, via="email")
    return done


def record_agent_auto_reply(ticket, agent, mail, *, reason: str) -> Done:
    """An automatic reply from an agent's mailbox (out of office, RFC 3834) to a mail of the
    ticket: an event for the staff, sent to nobody, answered by nothing (the mail itself stays
    among the inbound mail). It changes no status and no SLA clock: it is not the agent's answer."""
    with db.atomic():
        tickets.record(ticket, "agent_auto_reply", f"automatic reply from {agent.email} ({reason}), not sent to the "
                       f"client: {mail.subject}"[:1000], actor=agent.email, via="email",
                       new={"reason": reason, "subject": mail.subject[:200]})
    return Done("auto_reply", ticket)


def _names(agent) -> tuple[str, ...]:
    """What an agent's signature starts with: their name, its first word, their addresses (from
    the third on)."""
    first = agent.name.split()[0] if " " in agent.name.strip() else ""
    return (agent.name, first, agent.email, *(a.email for a in agent.addresses))


STATUS_COMMANDS = {"close": "closed", "resolve": "resolved", "pending": "pending", "open": "open"}


def _assignee(agent, argument: str):
    """The agent `#assign` names (by address, or by a name only one agent has), or None."""
    if argument.lower() in ("me", "我"):
        return agent
    found = list(Agent.select().where((Agent.email == argument.lower()) | (Agent.name == argument)).limit(2))
    exact = [a for a in found if a.email == argument.lower()]
    return exact[0] if exact else (found[0] if len(found) == 1 else None)


def _check_command(settings, ticket, agent, command) -> str:
    if command.name in STATUS_COMMANDS:
        return staff.check_status(ticket, STATUS_COMMANDS[command.name])
    if command.name == "assign":
        target = _assignee(agent, command.argument)
        if target is None and Agent.select().where(Agent.name == command.argument).count() > 1:
            return Reason("#assign %(name)s: more than one agent has this name; use their address",
                          name=command.argument)
        return Reason("#assign %(name)s: no such agent", name=command.argument) if target is None \
            else staff.check_assignee(target)
    if command.name == "priority":
        return staff.check_priority(command.argument.lower())
    if command.name == "tier":
        return customer_actions.check_tier(command.argument.lower(), settings)
    if command.name == "category":
        return staff.check_category(command.argument.lower(), settings)
    return ""


def _apply_command(settings, ticket, agent, command) -> list[int]:
    """Apply one checked command; returns the outbox ids it queued (a status update)."""
    if command.name in STATUS_COMMANDS:
        return list(staff.set_status(ticket, STATUS_COMMANDS[command.name], settings=settings, actor=agent,
                                     via="email").outbox_ids)
    if command.name == "assign":
        staff.assign(ticket, _assignee(agent, command.argument), actor=agent, via="email")
    elif command.name == "priority":
        staff.set_priority(ticket, command.argument.lower(), settings=settings, actor=agent, via="email")
    elif command.name == "tier":
        customer_actions.set_tier(ticket.customer, command.argument.lower(), settings=settings, actor=agent,
                                  via="email", ticket=ticket)
    elif command.name == "category":
        staff.set_category(ticket, command.argument.lower(), settings=settings, actor=agent, via="email")
    return []


def record_bounce(bounce, ticket) -> Done:
    """A report from a mail system about mail we sent (the kinds of mailer.bounces), never a
    ticket: a failure marks each failed recipient we know bouncing (permanent wins) and a delay
    marks them temporary at most (outcome "bounce"); a complaint marks the complainant (outcome
    "complaint"); a success report, a read receipt or feedback that is nobody's complaint marks
    nobody (outcome "report"). The ticket of the reported mail gets an event for each address
    marked, and for each reader of a read receipt."""
    with db.atomic():
        for address in bounce.complained:
            customer = customers.record_complaint(address, bounce.reason)
            if customer is not None and ticket is not None:
                tickets.record(ticket, "complaint_report", f"{address} reported our mail as spam: no automatic "
                               f"mail goes to them any more", actor="mail server", via="email",
                               new={"address": address})
        for address, permanent in [(a, True) for a in bounce.permanent] + [(a, False) for a in bounce.temporary]:
            kind = "permanent" if permanent else "temporary"
            customer = customers.record_bounce(address, permanent, f"{kind} failure: {bounce.reason}")
            if customer is not None and ticket is not None:
                tickets.record(ticket, "bounce", f"{kind} delivery failure for {address}",
                               actor="mail server", via="email", new={"address": address, "permanent": permanent})
        if bounce.kind == "receipt" and ticket is not None:
            for address in bounce.reached:
                tickets.record(ticket, "read_receipt", f"{bounce.reason}, from {address}", actor=address,
                               via="email", new={"address": address})
    if bounce.is_failure:
        return Done("bounce", ticket)
    return Done("complaint" if bounce.kind == "complaint" else "report", ticket)
