"""Auto-replies, bounces and loops: recorded where useful, never answered, never a ticket loop."""

import pytest

from models import tickets
from models.tables import Customer, Event, Outbox, Ticket
from tests.conftest import ingest, load_eml, make_settings


def alice_bounce_state() -> str:
    return Customer.get(Customer.email == "alice@client.example").bounce_state



@pytest.mark.parametrize("name", ["out_of_office.eml", "precedence_bulk.eml", "x_autoreply_header.eml",
                                  "out_of_office_chinese.eml"])
def test_automatic_mail_is_never_answered_and_opens_no_ticket(settings, name):
    ctx = ingest(settings, load_eml(name))
    assert ctx.outcome == "auto_reply_unthreaded"  # it answers nothing we know
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0


@pytest.mark.parametrize("subject", [
    "Automatic reply: Invoice question", "Automatische Antwort: Rechnung", "Réponse automatique : Facture",
    "Respuesta automática: Factura", "Risposta automatica: Fattura", "Автоматический ответ: Счёт",
    "Otomatik yanıt: Fatura", "自动答复: 发票问题", "【自动回复】发票问题", "自動応答: 請求書", "[Auto-Reply] Invoice",
])
def test_an_automatic_reply_is_known_by_its_localised_subject_alone(settings, subject):
    """Mail programs name their automatic replies in the user's language; with no header saying
    so, the subject's opening words are all there is."""
    raw = (f"From: Bob <bob@client.example>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <localised-ooo@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"\r\nI am away until Monday.\r\n").encode()
    assert ingest(settings, raw).outcome == "auto_reply_unthreaded"
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0


@pytest.mark.parametrize("subject", ["Automatic replies stopped working", "Re: Automatic reply: Invoice",
                                     "休假申请怎么提交", "Question about out-of-office settings",
                                     "Auto reply not working in my account", "自动回复功能失效了",
                                     "休假中的员工无法登录系统", "Out of office feature missing in the mobile app",
                                     "不在办公室时如何设置转发？"])
def test_a_person_writing_about_automatic_replies_opens_a_ticket(settings, subject):
    raw = (f"From: Bob <bob@client.example>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <person-ooo@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"\r\nMy out of office message is not sent, can you help?\r\n").encode()
    assert ingest(settings, raw).outcome == "new_ticket"


def test_auto_reply_on_a_pending_ticket_changes_nothing(settings):
    ingest(settings, "new_question.eml")
    ticket = Ticket.get()
    tickets.set_status(ticket, "pending", actor="agent@example.com", via="web")
    ack_id = Outbox.get().message_id
    ooo = load_eml("out_of_office.eml").replace(b"Auto-Submitted: auto-replied",
                                                f"Auto-Submitted: auto-replied\nIn-Reply-To: {ack_id}".encode())
    ctx = ingest(settings, ooo)
    assert (ctx.outcome, ctx.ticket.number) == ("auto_reply", 1)
    assert Ticket.get().status == "pending"  # not reopened, the SLA clock stays paused
    assert Event.select().where(Event.action == "auto_reply").count() == 1


def test_exchanges_no_auto_reply_request_on_a_persons_mail_opens_a_ticket_without_an_acknowledgement(settings):
    """Exchange stamps X-Auto-Response-Suppress on mail people write: a request that no
    auto-reply answer it, not a sign of a robot. The question opens a ticket (unacknowledged, as
    asked), and the same header on a reply reopens a resolved ticket."""
    raw = (b"From: Bob Stone <bob@client.example>\r\nTo: support@example.com\r\nSubject: Urgent: export broken\r\n"
           b"Message-ID: <xars-1@client.example>\r\nX-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\r\n\r\n"
           b"The export fails for every user.\r\n")
    ctx = ingest(settings, raw)
    assert ctx.outcome == "new_ticket" and not ctx.automatic
    assert Outbox.select().where(Outbox.kind == "acknowledgement").count() == 0
    tickets.set_status(ctx.ticket, "resolved", actor="agent@example.com", via="web")
    again = ingest(settings, raw.replace(b"xars-1", b"xars-2").replace(b"Subject: ", b"Subject: Re: [#1] "))
    assert again.outcome == "added" and Ticket.get().status == "open"


def test_permanent_bounce_marks_the_customer_and_the_ticket_but_makes_no_ticket(settings):
    ingest(settings, "new_question.eml")
    ack_id = Outbox.get().message_id
    ctx = ingest(settings, load_eml("bounce_dsn_permanent.eml").replace(b"ACK_MESSAGE_ID", ack_id.encode()))
    assert ctx.outcome == "bounce" and Ticket.select().count() == 1
    customer = Customer.get(Customer.email == "alice@client.example")
    assert customer.bounce_state == "permanent" and "permanent failure" in customer.bounce_detail
    assert Event.get(Event.action == "bounce").detail == "permanent delivery failure for alice@client.example"
    assert Outbox.select().count() == 1  # never answered


def test_temporary_bounce_does_not_downgrade_a_permanent_one(settings):
    ingest(settings, "new_question.eml")
    ingest(settings, "bounce_dsn_permanent.eml")
    ingest(settings, "bounce_dsn_delayed.eml")
    assert alice_bounce_state() == "permanent"


def test_temporary_bounce_is_recorded_as_temporary(settings):
    ingest(settings, "new_question.eml")
    assert ingest(settings, "bounce_dsn_delayed.eml").outcome == "bounce"
    assert alice_bounce_state() == "temporary"


def test_non_standard_bounce_is_recognised(settings):
    ctx = ingest(settings, "bounce_qmail.eml")
    assert ctx.outcome == "bounce" and Ticket.select().count() == 0


def test_new_mail_from_a_bouncing_customer_clears_the_state(settings):
    ingest(settings, "new_question.eml")
    ingest(settings, "bounce_dsn_permanent.eml")
    ingest(settings, "reply_subject_tag_only.eml")
    assert alice_bounce_state() == ""


def test_the_hourly_limit_reads_only_the_last_hours_mail_to_an_address(settings):
    """A client mailed thousands of times over the months: the count behind each acknowledgement
    is an index range of the last hour, not a walk through every mail they were ever sent."""
    import datetime as dt

    from models import outbox
    from models.base import db, utcnow

    Outbox.insert_many([{"kind": "acknowledgement", "mail_from": "support@example.com", "rcpt_to": "ops@client.example",
                         "raw": b"", "message_id": f"<old-{i}@example.com>", "state": "sent",
                         "created_at": utcnow() - dt.timedelta(hours=2, minutes=i)} for i in range(300)]).execute()
    kinds = ("acknowledgement", "survey")
    assert outbox.recent_automatic_count("ops@client.example", kinds, dt.timedelta(hours=1)) == 0
    if db.param == "?":  # SQLite says how it reads it
        plan = " ".join(str(row) for row in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM outbox WHERE rcpt_to = ? AND kind IN (?, ?) AND created_at >= ?",
            ("ops@client.example", *kinds, utcnow())))
        assert "rcpt_to=? AND created_at>?" in plan


def test_mail_from_one_of_our_token_addresses_is_a_loop(settings):
    raw = (b"From: Support <Support+a1b2c3@Example.com>\r\nTo: support@example.com\r\nSubject: hello\r\n"
           b"Message-ID: <token-loop@example.com>\r\n\r\nhi\r\n")
    assert ingest(settings, raw).outcome == "loop" and Ticket.select().count() == 0 and Outbox.select().count() == 0


def test_our_loop_header_is_dropped_even_from_another_address(settings):
    ctx = ingest(settings, "loop_header_from_other_address.eml")
    assert ctx.outcome == "loop" and Ticket.select().count() == 0


def test_rate_limit_stops_a_loop_with_a_robot_that_does_not_say_it_is_one(settings):
    base = load_eml("new_question.eml")
    for i in range(settings.outgoing.auto_reply_limit_per_hour + 2):
        ingest(settings, base.replace(b"<new-question-1@", f"<robot-{i}@".encode())
               .replace(b"Subject: Cannot", f"Subject: {i} Cannot".encode()))
    assert Ticket.select().count() == settings.outgoing.auto_reply_limit_per_hour + 2
    assert Outbox.select().count() == settings.outgoing.auto_reply_limit_per_hour
    assert Event.select().where(Event.action == "acknowledgement_suppressed").count() == 2


@pytest.mark.parametrize("headers, sender, envelope", [
    ("", "alice@client.example", "<>"),
    ("Return-Path: <>\r\n", "alice@client.example", ""),
    ("List-Id: <news.vendor.example>\r\nList-Unsubscribe: <mailto:leave@vendor.example>\r\n",
     "news@vendor.example", ""),
    ("", "noreply@shop.example", ""),
    ("", "do-not-reply@bank.example", ""),
    ("X-Spam-Flag: YES\r\n", "winner@lottery.example", ""),
], ids=["null_envelope", "null_return_path", "mailing_list", "noreply", "do_not_reply", "spam_flag"])
def test_mail_nobody_reads_answers_opens_a_ticket_without_an_acknowledgement(settings, headers, sender, envelope):
    from mailer import pipeline, spool

    raw = (f"From: {sender}\r\nTo: support@example.com\r\nSubject: Your order\r\n{headers}"
           f"Message-ID: <machine@client.example>\r\n\r\nYour order has shipped.\r\n").encode()
    ctx = pipeline.process(settings, spool.store(raw, "smtp", envelope, ("support@example.com",)))
    assert ctx.outcome == "new_ticket" and Outbox.select().where(Outbox.kind == "acknowledgement").count() == 0
    assert Event.get(Event.action == "acknowledgement_withheld").detail


def test_a_ticket_a_mailing_list_opened_gets_no_automatic_mail_ever(settings):
    """Not the acknowledgement, and not the status update when an agent resolves it, nor the
    survey after: each would go to every member of the list (or back to a spammer)."""
    import datetime as dt

    from actions import tickets as staff
    from models import agents
    from models.base import utcnow
    from workers.followups import send_followups

    raw = (b"From: news@vendor.example\r\nTo: support@example.com\r\nSubject: Price list\r\n"
           b"List-Id: <news.vendor.example>\r\nMessage-ID: <list-1@vendor.example>\r\n\r\nNew prices.\r\n")
    ticket = ingest(settings, raw).ticket
    agent = agents.create_agent("bob@example.com", "correct horse battery", name="Bob")
    staff.set_status(ticket, "resolved", settings=settings, actor=agent, via="web")
    send_followups(now=utcnow() + dt.timedelta(days=3))
    assert Outbox.select().where(Outbox.rcpt_to == "news@vendor.example").count() == 0
    assert Event.select().where(Event.action == "status_update_suppressed").count() == 1
    # A spam verdict (maybe wrong) was that mail's: the person behind it hears of their ticket.
    spam = (b"From: carol@client.example\r\nTo: support@example.com\r\nSubject: Invoice\r\nX-Spam-Flag: YES\r\n"
            b"Message-ID: <spam-1@client.example>\r\n\r\nWhere is my invoice?\r\n")
    staff.set_status(ingest(settings, spam).ticket, "resolved", settings=settings, actor=agent, via="web")
    told = Outbox.select().where((Outbox.rcpt_to == "carol@client.example") & (Outbox.kind == "status_update"))
    assert told.count() == 1


def test_the_loop_guard_never_swallows_an_agents_status_updates(settings):
    from actions import tickets as staff
    from models import agents

    agent = agents.create_agent("bob@example.com", "correct horse battery", name="Bob")
    base = load_eml("new_question.eml")
    limit = settings.outgoing.auto_reply_limit_per_hour
    for i in range(limit):
        ingest(settings, base.replace(b"<new-question-1@", f"<q-{i}@".encode())
               .replace(b"Subject: Cannot", f"Subject: {i} Cannot".encode()))
    for ticket in Ticket.select():
        staff.set_status(ticket, "resolved", settings=settings, actor=agent, via="web")
    assert Outbox.select().where(Outbox.kind == "status_update").count() == limit


def test_the_smtp_edge_stores_a_null_sender_as_one(edge_with):
    import smtplib

    from models.tables import InboundMail

    _, controller = edge_with()
    with smtplib.SMTP("127.0.0.1", controller.port) as client:
        client.sendmail("", ["support@example.com"], b"From: a@client.example\r\nSubject: x\r\n\r\nhi\r\n")
    assert InboundMail.get().mail_from == "<>"


GROUP = ("To: support@example.com\r\nSubject: Printer jammed\r\nMessage-ID: <{mid}@client.example>\r\n"
         "Precedence: list\r\nMailing-list: list support@example.com; contact support+owners@example.com\r\n"
         "List-Id: <support.example.com>\r\nList-Post: <https://groups.example.com/group/support/post>, "
         "<mailto:support@example.com>\r\n{extra}\r\nThe printer on floor 3 is jammed.\r\n")


def test_a_group_in_front_of_the_support_address_relays_a_clients_mail_to_a_ticket(settings):


    ctx = ingest(settings, ("From: Alice <alice@client.example>\r\n" + GROUP.format(mid="g1", extra="")).encode())
    assert ctx.outcome == "new_ticket" and not ctx.automatic and not ctx.unanswerable
    assert Outbox.get(Outbox.kind == "acknowledgement").rcpt_to == "alice@client.example"
    rewritten = "From: 'Bob Example' via Support <support@example.com>\r\n" + GROUP.format(
        mid="g2", extra="Reply-To: Bob Example <bob@client.example>\r\n"
                        "X-Original-From: Bob Example <bob@client.example>\r\n")
    ctx = ingest(settings, rewritten.encode())  # the group put its own address in From (DMARC)
    assert ctx.outcome == "new_ticket" and Ticket.get(Ticket.number == 2).customer.email == "bob@client.example"
    assert Ticket.get(Ticket.number == 2).customer.name == "Bob Example"


@pytest.fixture
def with_form_sender(tmp_path, redis_server):
    from models import migrations
    from postdesk import runtime

    settings = make_settings(tmp_path, redis_server, inbound={"form_senders": ["wordpress@shop.example"]})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    return settings


FORM = ("From: WordPress <{sender}>\r\nReply-To: Anna <anna@client.example>\r\nTo: support@example.com\r\n"
        "Subject: Contact form\r\nMessage-ID: <form-{n}@shop.example>\r\n\r\nMy order?\r\n")


def test_a_web_forms_mail_belongs_to_the_person_in_its_reply_to_when_the_robot_is_named(with_form_sender):
    assert ingest(with_form_sender, FORM.format(sender="wordpress@shop.example", n=1).encode()).outcome == "new_ticket"
    assert Ticket.get().customer.email == "anna@client.example"
    assert Outbox.get(Outbox.kind == "acknowledgement").rcpt_to == "anna@client.example"
    ctx = ingest(with_form_sender, FORM.format(sender="forms@elsewhere.example", n=2).encode())
    assert ctx.mail.from_address == "forms@elsewhere.example"  # a robot nobody named: its own mail


@pytest.mark.parametrize("reply_to", ["agnes@example.com", "support@example.com", "a@client.example, b@client.example"])
def test_a_reply_to_of_ours_or_of_several_people_names_no_writer(with_form_sender, reply_to):
    raw = FORM.format(sender="wordpress@shop.example", n=3).replace("Anna <anna@client.example>", reply_to)
    ctx = ingest(with_form_sender, raw.encode())
    assert ctx.mail.from_address == "wordpress@shop.example" and ctx.agent is None


def test_a_stranger_naming_someone_else_in_reply_to_or_a_via_name_stays_themselves(settings, cast):
    raw = (b"From: Eve via Support <eve@gmail.com>\r\nReply-To: alice@client.example\r\n"
           b"X-Original-From: bob@example.com\r\nTo: support@example.com\r\nSubject: Invoices\r\n"
           b"Message-ID: <eve-1@gmail.com>\r\nPrecedence: list\r\nList-Id: <support.example.com>\r\n\r\n"
           b"Send all future invoices to me.\r\n")
    ctx = ingest(settings, raw)
    assert (ctx.mail.from_address, ctx.agent, ctx.relayed_by) == ("eve@gmail.com", None, "")


def test_our_groups_relay_is_never_an_agent_even_naming_one(settings, cast):
    raw = (b"From: 'Agnes' via Support <support@example.com>\r\nX-Original-From: Agnes <agnes@example.com>\r\n"
           b"To: support@example.com\r\nSubject: Re: [#1] x\r\nMessage-ID: <g-agnes@example.com>\r\n"
           b"List-Id: <support.example.com>\r\n\r\nHello\r\n")
    ctx = ingest(settings, raw)
    assert ctx.agent is None and ctx.mail.from_address == "support@example.com"  # ours: no writer, a loop


def test_a_newsletter_is_still_automatic(settings):
    raw = (b"From: News <news@vendor.example>\r\nTo: support@example.com\r\nSubject: Our spring offers\r\n"
           b"Message-ID: <n1@vendor.example>\r\nPrecedence: bulk\r\nList-Id: <news.vendor.example>\r\n"
           b"List-Unsubscribe: <mailto:unsub@vendor.example>\r\n\r\nOffers!\r\n")
    assert ingest(settings, raw).outcome == "auto_reply_unthreaded"


def test_another_lists_mail_is_kept_as_automatic_and_answered_by_nothing(settings):
    raw = (b"From: Carol <carol@client.example>\r\nTo: devs@lists.example.org\r\nCc: support@example.com\r\n"
           b"Subject: Build broken\r\nMessage-ID: <l1@client.example>\r\nPrecedence: list\r\n"
           b"List-Id: <devs.lists.example.org>\r\n\r\nThe build is broken.\r\n")
    ctx = ingest(settings, raw)
    assert ctx.outcome == "auto_reply_unthreaded" and not Outbox.select().exists()
