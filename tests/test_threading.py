"""Threading rules, in order: reply token, known Message-IDs, trusted [#N] tag, new ticket."""

import datetime as dt

import pytest

from mailer import notify
from models import tickets
from models.base import utcnow
from models.tables import Event, Message, Outbox, Participant, Ticket
from tests.conftest import ingest, load_eml, make_settings


def test_acknowledgement_gives_out_a_reply_token_address(settings):
    ingest(settings, "new_question_with_cc.eml")
    ticket = Ticket.get()
    raw = bytes(Outbox.get().raw)
    assert f"support+{ticket.reply_token}@example.com".encode() in raw  # Reply-To
    assert notify.reply_address(ticket) == f"support+{ticket.reply_token}@example.com"


def test_reply_token_threads_even_without_headers_or_tag(settings):
    ingest(settings, "new_question_with_cc.eml")
    token = Ticket.get().reply_token
    raw = load_eml("reply_by_token_no_headers.eml").replace(b"TOKEN", token.encode())
    ctx = ingest(settings, raw, rcpt=(f"support+{token}@example.com",))
    assert (ctx.outcome, ctx.threaded_by, ctx.ticket.number) == ("added", "token", 1)


def test_unknown_token_falls_through_to_a_new_ticket(settings):
    raw = load_eml("reply_by_token_no_headers.eml").replace(b"TOKEN", b"0123456789abcdef0123")
    ctx = ingest(settings, raw, rcpt=("support+0123456789abcdef0123@example.com",))
    assert (ctx.outcome, ctx.threaded_by) == ("new_ticket", "new")


def test_copied_colleague_becomes_a_participant_and_reply_all_joins_the_ticket(settings):
    ingest(settings, "new_question_with_cc.eml")
    ticket = Ticket.get()
    assert [p.customer.email for p in ticket.participants] == ["bob@client.example"]  # not our own +billing
    ctx = ingest(settings, "reply_all_from_cc_colleague.eml")
    assert (ctx.threaded_by, ctx.ticket.number, Ticket.select().count()) == ("header", 1, 1)
    assert Message.get(Message.message_id == "<vpn-bob-reply@client.example>").reply_text == \
        "It drops at exactly :17 past every hour."


def test_participant_may_use_the_subject_tag(settings):
    ingest(settings, "new_question_with_cc.eml")
    ctx = ingest(settings, "colleague_uses_subject_tag.eml")
    assert (ctx.threaded_by, ctx.ticket.number) == ("subject_tag", 1)


def test_reply_to_ones_own_sent_mail_joins_the_ticket(settings):
    ingest(settings, "new_question_with_cc.eml")
    ctx = ingest(settings, "reply_to_own_sent_mail.eml")
    assert (ctx.threaded_by, ctx.ticket.number) == ("header", 1)


def test_customer_forwarding_ticket_mail_does_not_duplicate_the_ticket(settings):
    ingest(settings, "new_question_with_cc.eml")
    ctx = ingest(settings, "forwarded_by_customer.eml")
    assert (ctx.threaded_by, Ticket.select().count()) == ("subject_tag", 1)


def test_every_message_records_its_rule(settings):
    ingest(settings, "new_question_with_cc.eml")
    ingest(settings, "reply_all_from_cc_colleague.eml")
    ingest(settings, "colleague_uses_subject_tag.eml")
    rules = [m.threaded_by for m in Message.select().order_by(Message.id)]
    assert rules == ["new", "header", "subject_tag"]


def test_reply_to_recently_closed_ticket_reopens_it(settings):
    ingest(settings, "new_question_with_cc.eml")
    tickets.set_status(Ticket.get(), "closed", actor="agent@example.com", via="web")
    ctx = ingest(settings, "reply_to_own_sent_mail.eml")
    assert ctx.ticket.number == 1 and Ticket.get().status == "open"


def test_reply_to_long_closed_ticket_opens_a_linked_follow_up(settings):
    ingest(settings, "new_question_with_cc.eml")
    old = Ticket.get()
    tickets.set_status(old, "closed", actor="agent@example.com", via="web")
    long_ago = utcnow() - dt.timedelta(days=31)
    Ticket.update(closed_at=long_ago, last_contact_at=long_ago).where(Ticket.id == old.id).execute()
    ctx = ingest(settings, "reply_to_own_sent_mail.eml")
    assert (ctx.outcome, ctx.ticket.number) == ("new_ticket", 2)
    assert ctx.ticket.follow_up_of.number == 1 and Ticket.get_by_id(old.id).status == "closed"
    assert Event.select().where(Event.action == "follow_up").count() == 2


def test_the_answer_to_an_agents_reply_on_a_long_closed_ticket_joins_that_ticket(settings, cast):
    from actions import tickets as staff

    ingest(settings, "new_question_with_cc.eml")
    old = Ticket.get()
    tickets.set_status(old, "closed", actor="agent@example.com", via="web")
    long_ago = utcnow() - dt.timedelta(days=40)
    Ticket.update(closed_at=long_ago, last_contact_at=long_ago).where(Ticket.id == old.id).execute()
    staff.reply(settings, Ticket.get_by_id(old.id), cast["agnes"], "Following up: the fix is out now.", via="web")
    ctx = ingest(settings, "reply_to_own_sent_mail.eml")
    assert (ctx.outcome, ctx.ticket.number) == ("added", 1) and Ticket.get_by_id(old.id).status == "open"


def test_zero_day_window_always_opens_a_follow_up(tmp_path, redis_server):
    from models import migrations
    from postdesk import runtime

    settings = make_settings(tmp_path, redis_server, tickets={"reopen_closed_within_days": 0})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    ingest(settings, "new_question_with_cc.eml")
    tickets.set_status(Ticket.get(), "closed", actor="agent@example.com", via="web")
    Ticket.update(closed_at=utcnow() - dt.timedelta(seconds=1)).execute()
    assert ingest(settings, "reply_to_own_sent_mail.eml").ticket.number == 2
    assert Participant.select().count() == 1


def mail(sender: str, subject: str, message_id: str, *, to="support@example.com", cc="", in_reply_to="",
         references="", text="More details.") -> bytes:
    headers = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Message-ID: {message_id}"]
    headers += [f"Cc: {cc}"] * bool(cc) + [f"In-Reply-To: {in_reply_to}"] * bool(in_reply_to)
    headers += [f"References: {references}"] * bool(references)
    return ("\r\n".join(headers) + f"\r\n\r\n{text}\r\n").encode()


def test_a_trusted_tag_outranks_references_to_a_misthreaded_mail_and_the_conflict_is_kept(settings):
    ingest(settings, mail("Alice <alice@client.example>", "Cannot log in", "<a1@client.example>"))
    # Her next mail lost every header and its tag: it opened ticket #2 by mistake.
    ingest(settings, mail("Alice <alice@client.example>", "still broken", "<a2@client.example>"))
    # Later mails name that mistake in References but carry the right tag.
    ctx = ingest(settings, mail("Alice <alice@client.example>", "Re: [#1] Cannot log in", "<a3@client.example>",
                                references="<a1@client.example> <a2@client.example>"))
    assert (ctx.ticket.number, ctx.threaded_by) == (1, "subject_tag")
    [conflict] = Event.select().where(Event.action == "threading_conflict")
    assert conflict.ticket.number == 1 and "References named #2" in conflict.detail


def test_in_reply_to_a_mail_we_know_outranks_a_tag_and_the_conflict_is_kept(settings):
    ingest(settings, mail("Alice <alice@client.example>", "Cannot log in", "<a1@client.example>"))
    ingest(settings, mail("Alice <alice@client.example>", "Invoice", "<a2@client.example>"))
    ctx = ingest(settings, mail("Alice <alice@client.example>", "Re: [#1] Cannot log in", "<a3@client.example>",
                                in_reply_to="<a2@client.example>"))
    assert (ctx.ticket.number, ctx.threaded_by) == (2, "header")
    assert "the [#N] tag named #1" in Event.get(Event.action == "threading_conflict").detail


def test_a_strangers_tag_still_reaches_no_ticket_even_with_references(settings):
    ingest(settings, mail("Alice <alice@client.example>", "Cannot log in", "<a1@client.example>"))
    ctx = ingest(settings, mail("Eve <eve@attacker.example>", "Re: [#1] Cannot log in", "<e1@attacker.example>",
                                cc="alice@client.example"))
    assert ctx.ticket.number == 2  # a new ticket of her own
    assert not Participant.select().where(Participant.ticket == 1).exists()


def alice_of_client_ltd(settings) -> None:
    """Ticket #1 from Alice, known to work for an organisation (set by an agent or the import)."""
    from models.tables import Customer

    ingest(settings, mail("Alice <alice@client.example>", "Cannot log in", "<a1@client.example>"))
    Customer.update(organisation="Client Ltd").execute()


def test_a_colleague_writing_with_the_customer_in_copy_joins_the_ticket(settings):
    alice_of_client_ltd(settings)
    ctx = ingest(settings, mail("Bob <bob@client.example>", "Re: [#1] Cannot log in", "<b1@client.example>",
                                cc="Alice <alice@client.example>", text="Same here on my laptop."))
    assert (ctx.ticket.number, ctx.threaded_by, ctx.outcome) == (1, "subject_tag", "added")
    assert not Message.get(Message.message_id == "<b1@client.example>").outsider
    assert [p.customer.email for p in Participant.select()] == ["bob@client.example"]


def test_a_colleague_without_the_customer_in_copy_or_at_a_public_provider_is_no_colleague(settings):
    alice_of_client_ltd(settings)
    alone = ingest(settings, mail("Bob <bob@client.example>", "Re: [#1] Cannot log in", "<b1@client.example>"))
    assert alone.ticket.number == 2  # the customer not in copy: a tag alone proves nothing
    ingest(settings, mail("Gil <gil@gmail.com>", "Broken", "<g1@gmail.com>"))  # ticket #3
    other = ingest(settings, mail("Mallory <mallory@gmail.com>", "Re: [#3] Broken", "<m1@gmail.com>",
                                  cc="gil@gmail.com"))
    assert other.ticket.number == 4  # sharing gmail.com is no tie


def test_a_colleague_of_a_customer_not_known_as_an_organisation_is_threaded_but_gets_no_replies(settings):
    """A shared company domain with the customer in copy threads the tag even when nobody told
    us the customer's organisation; the colleague's message is shown as an outsider's and they
    receive nothing until an agent adds them or sets the organisation."""
    ingest(settings, mail("Alice <alice@acme.co.uk>", "Cannot log in", "<a1@acme.co.uk>"))
    ctx = ingest(settings, mail("Bob <bob@acme.co.uk>", "Re: [#1] Cannot log in", "<b1@acme.co.uk>",
                                cc="alice@acme.co.uk", text="Same here."))
    assert (ctx.ticket.number, ctx.threaded_by) == (1, "subject_tag")
    assert Message.get(Message.message_id == "<b1@acme.co.uk>").outsider
    assert not Participant.select().exists()
    assert "share the customer's domain" in Event.get(Event.action == "outsider").detail


@pytest.mark.parametrize("domain", ["hotmail.co.uk", "yahoo.com.tw", "gmx.at", "tsinghua.edu.cn", "ox.ac.uk",
                                    "privaterelay.appleid.com", "duck.com", "bluewin.ch"])
def test_a_shared_public_provider_or_university_domain_is_no_tie(settings, domain):
    ingest(settings, mail(f"Alice <alice@{domain}>", "Cannot log in", f"<a1@{domain}>"))
    ctx = ingest(settings, mail(f"Mallory <mallory@{domain}>", "Re: [#1] Cannot log in", f"<m1@{domain}>",
                                cc=f"alice@{domain}"))
    assert ctx.ticket.number == 2 and not Participant.select().where(Participant.ticket == 1).exists()


@pytest.mark.parametrize("tag", ["[# 1]", "[ #1 ]", "【#1】", "［＃1］", "[＃1]", "【 ＃1 】"])
def test_a_tag_as_clients_and_input_methods_rewrite_it_still_threads(settings, tag):
    ingest(settings, "new_question_with_cc.eml")
    customer = Ticket.get().customer.email
    raw = (f"From: {customer}\r\nTo: support@example.com\r\nSubject: 回复：{tag} VPN\r\n"
           f"Message-ID: <tag-variant@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n还是不行。\r\n")
    ctx = ingest(settings, raw.encode())
    assert (ctx.threaded_by, ctx.ticket.number) == ("subject_tag", 1)


def test_another_systems_round_bracket_number_is_no_tag(settings):
    ingest(settings, "new_question_with_cc.eml")
    customer = Ticket.get().customer.email
    raw = (f"From: {customer}\r\nTo: support@example.com\r\nSubject: Order (#1) shipped\r\n"
           f"Message-ID: <round@client.example>\r\n\r\nFYI\r\n").encode()
    assert ingest(settings, raw).outcome == "new_ticket"


@pytest.mark.parametrize("subject, joins", [("Fwd: [#1] Your RMA is approved", False),
                                            ("Re: [#1] VPN drops every hour", True),
                                            ("AW: [#1] VPN drops every hour - still", True)])
def test_another_systems_tag_on_mail_we_never_saw_opens_no_door_to_the_clients_ticket(settings, subject, joins):
    ingest(settings, "new_question_with_cc.eml")  # Alice's ticket #1, "VPN drops every hour"
    raw = (f"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <fwd-{len(subject)}@client.example>\r\nIn-Reply-To: <rma-77@vendor.example>\r\n"
           f"References: <rma-77@vendor.example>\r\n\r\nSee below.\r\n").encode()
    ctx = ingest(settings, raw)
    if joins:
        assert (ctx.outcome, ctx.ticket.number) == ("added", 1)
    else:
        assert ctx.outcome == "new_ticket" and "another system's number" in ctx.mail.problems[0]


def test_a_forward_of_another_systems_mail_with_its_tag_opens_a_ticket_and_of_ours_joins(settings):
    ingest(settings, "new_question_with_cc.eml")
    for subject, outcome in (("Fwd: [#1] Your RMA is approved", "new_ticket"),
                             ("Fwd: [#1] VPN drops every hour", "added")):
        raw = (f"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
               f"Message-ID: <fw-{len(subject)}@client.example>\r\n\r\nFYI, see below.\r\n").encode()
        assert ingest(settings, raw).outcome == outcome
