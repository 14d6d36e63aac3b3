"""Threading rules, in order: reply token, known Message-IDs, trusted [#N] tag, new ticket."""

import datetime as dt

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
    Ticket.update(closed_at=utcnow() - dt.timedelta(days=31)).where(Ticket.id == old.id).execute()
    ctx = ingest(settings, "reply_to_own_sent_mail.eml")
    assert (ctx.outcome, ctx.ticket.number) == ("new_ticket", 2)
    assert ctx.ticket.follow_up_of.number == 1 and Ticket.get_by_id(old.id).status == "closed"
    assert Event.select().where(Event.action == "follow_up").count() == 2


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
