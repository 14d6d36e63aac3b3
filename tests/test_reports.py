"""Reports from mail systems (issue 12): failures, delays, success reports, read receipts and
complaints, each kept apart; the vendor formats of bounce notices; addresses decoded whatever
the client did. One .eml per scenario under tests/data/reports/, written for these tests."""

import time

import pytest

from mailer import bounce_text, bounces, parsing
from mailer.inspect import describe
from models.tables import Customer, Event, Message, Outbox, Ticket
from tests.conftest import DATA, ingest

REPORTS = DATA / "reports"
A, B, C = "alice@client.example", "bob@client.example", "carol@client.example"

# file: (kind, permanent, temporary, complained)
EXPECTED = {
    # Reports that are no failure: success, delays, read receipts, complaints.
    "dsn_delivered.eml": ("delivered", [], [], []),
    "dsn_relayed.eml": ("delivered", [], [], []),
    "dsn_expanded_list.eml": ("delivered", [], [], []),
    "dsn_mixed_delivered_and_failed.eml": ("failure", ["old-colleague@client.example"], [], []),
    "postfix_delayed.eml": ("delay", [], [A], []),
    "sendmail_warning_plain.eml": ("delay", [], [A], []),
    "exim_delay_warning.eml": ("delay", [], [A], []),
    "gmail_delay.eml": ("delay", [], [A], []),
    "exchange_delay_text.eml": ("delay", [], [A], []),
    "mdn_read_thunderbird.eml": ("receipt", [], [], []),
    "mdn_not_read_outlook.eml": ("receipt", [], [], []),
    "mdn_displayed_no_headers.eml": ("receipt", [], [], []),
    "arf_abuse.eml": ("complaint", [], [], [A]),
    "arf_fraud.eml": ("complaint", [], [], [A]),
    "arf_other.eml": ("complaint", [], [], [B]),
    "arf_redacted_recipient.eml": ("complaint", [], [], [A]),
    "arf_headers_only.eml": ("complaint", [], [], [C]),
    "arf_microsoft_jmrp.eml": ("complaint", [], [], ["dave@hotmail.example"]),
    "arf_microsoft_arf_style.eml": ("complaint", [], [], ["dave@hotmail.example"]),
    "arf_yahoo.eml": ("complaint", [], [], ["erin@yahoo.example"]),
    "arf_auth_failure.eml": ("feedback", [], [], []),
    "ses_sns_complaint.eml": ("complaint", [], [], [A]),
    "ses_sns_delivery.eml": ("delivered", [], [], []),
    # Vendor bounce formats.
    "ses_dsn.eml": ("failure", [A], [], []),
    "ses_plain_undeliverable.eml": ("failure", [A], [], []),
    "ses_sns_bounce_permanent.eml": ("failure", [A], [], []),
    "ses_sns_bounce_transient.eml": ("failure", [], [B], []),
    "james_bounce.eml": ("failure", [A], [], []),
    "james_message_details.eml": ("failure", [B], [], []),
    "exim_permanent.eml": ("failure", [A], [], []),
    "exim_no_failed_header.eml": ("failure", [C], [], []),
    "exim_quota_retry_timeout.eml": ("failure", [], ["dave@client.example"], []),
    "fml_not_member.eml": ("failure", ["customers-ml@ml.client.example"], [], []),
    "interscan_en.eml": ("failure", [A], [], []),
    "interscan_japanese.eml": ("failure", ["hanako@client.example"], [], []),
    "kddi_au_mailbox_full.eml": ("failure", [], ["taro.kddi@au.com"], []),
    "kddi_ezweb_user_unknown.eml": ("failure", ["jiro-1999@ezweb.ne.jp"], [], []),
    "postfix_standard.eml": ("failure", [A], [], []),
    "postfix_plain_no_dsn.eml": ("failure", [B, C], [], []),
    "postfix_japanese.eml": ("failure", ["yamada@client.example"], [], []),
    "postfix_german.eml": ("failure", ["schmidt@kunde.example"], [], []),
    "sendmail_plain_fatal.eml": ("failure", [A], [], []),
    "sendmail_dsn_host_unknown.eml": ("failure", ["frank@nowhere.client.example"], [], []),
    "sendmail_transient_over_quota.eml": ("failure", [], ["gina@client.example"], []),
    "verizon_vtext.eml": ("failure", ["2025550147@vtext.com"], [], []),
    "verizon_net.eml": ("failure", ["henry@verizon.example"], [], []),
    "qmail_vpopmail.eml": ("failure", ["ivan@client.example", "julia@client.example"], [], []),
    "qmail_like_temporary.eml": ("failure", [], ["kate@client.example"], []),
    "x6_error_sending.eml": ("failure", ["liam@client.example"], [], []),
    "gmail_failure.eml": ("failure", ["mona@client.example"], [], []),
    "gmail_failure_old_text.eml": ("failure", ["nora@client.example"], [], []),
    "o365_ndr_with_dsn.eml": ("failure", ["oscar@client.example"], [], []),
    "o365_ndr_html_only.eml": ("failure", ["paul@client.example"], [], []),  # 554 5.2.2: RFC 3463 says permanent
    "exchange_2010_text.eml": ("failure", ["quinn@client.example"], [], []),
    "exchange_2003_text.eml": ("failure", ["rita@client.example"], [], []),
    "exchange_german.eml": ("failure", ["sabine@kunde.example"], [], []),
    "qq_bounce.eml": ("failure", ["zhangwei@client.example"], [], []),
    "netease_163_bounce.eml": ("failure", [], ["lina@client.example"], []),  # 452 4.2.2 mailbox full
}
NOT_REPORTS = ["person_forwards_a_bounce.eml", "person_writes_about_undelivered_order.eml",
               "shop_no_reply_parcel_not_delivered.eml"]


def read(name: str, ack_id: str = "") -> bytes:
    """A report; with `ack_id`, about the mail we sent with that Message-ID."""
    raw = (REPORTS / name).read_bytes()
    return raw.replace(b"<notice-1@example.com>", ack_id.encode()) if ack_id else raw


def state(address: str = A) -> str:
    return Customer.get(Customer.email == address).bounce_state


def test_every_sample_has_its_expectation():
    named = set(EXPECTED) | set(NOT_REPORTS) | {name for name, *_ in DECODED}
    assert {p.name for p in REPORTS.glob("*.eml")} == named


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reports_are_told_apart_and_name_whom_they_are_about(name):
    kind, permanent, temporary, complained = EXPECTED[name]
    found = bounces.detect(parsing.parse(read(name)))
    assert found is not None, name
    assert (found.kind, found.permanent, found.temporary, found.complained) == (kind, permanent, temporary,
                                                                                complained), found.reason
    assert not (set(found.permanent) & set(found.temporary))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inspect_says_bounce_complaint_or_automatic_mail(name):
    kind = EXPECTED[name][0]
    result = describe(read(name))
    # A complaint is labelled a bounce, as the feedback loops' own reports are: `complaint` tells it apart.
    assert result["bounce"]["is_bounce"] == (kind in ("failure", "delay", "complaint"))
    assert result["complaint"] == (kind == "complaint")
    assert result["bounce"]["complained"] == EXPECTED[name][3]
    assert result["auto_reply"] == (kind in ("delivered", "receipt", "feedback"))
    assert result["bounce"]["kind"] == kind
    if kind != "failure":
        assert result["bounce"]["permanent"] == []  # a delay, a success or a complaint marks nobody for good


def _attached(report: bytes, sender: str, subject: str) -> bytes:
    return (f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash((sender, subject)))}@client.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\n"
            "Our customers get this since yesterday, please help.\r\n--m\r\nContent-Type: message/rfc822\r\n"
            "Content-Disposition: attachment; filename=bounce.eml\r\n\r\n").encode() + report + b"\r\n--m--\r\n"


@pytest.mark.parametrize(("sender", "subject"), [
    ("Alice <alice@client.example>", "Undeliverable mail to our customers since yesterday"),
    ("Alice <alice@client.example>", "退信了，请帮忙"),
    ("Mary Taylor <mtaylor@client.example>", "Question"),  # an address that begins like a mail server's
    ("Smtp Admin <smtpadmin@client.example>", "Returned mail"),
    ("Alice <alice@client.example>", "Complaint about message from your agent Agnes"),  # not Microsoft's JMRP
])
def test_a_persons_mail_that_attaches_a_bounce_or_our_mail_is_a_ticket(settings, sender, subject):
    raw = _attached(read("postfix_standard.eml", "<our-reply@example.com>"), sender, subject)
    assert bounces.detect(parsing.parse(raw)) is None
    assert ingest(settings, raw).outcome == "new_ticket"


def test_an_it_admin_answering_with_a_bounce_line_quoted_joins_the_ticket(settings):
    ticket = ingest(settings, b"From: alice@client.example\r\nTo: support@example.com\r\nSubject: Mail to you fails\r\n"
                              b"Message-ID: <q1@client.example>\r\n\r\nOur mail to you bounces.\r\n").ticket
    raw = (b"From: System Administrator <it-admin@client.example>\r\nTo: support@example.com\r\n"
           b"Cc: alice@client.example\r\nSubject: Re: [#1] Mail to you fails\r\nMessage-ID: <q2@client.example>\r\n"
           b"In-Reply-To: <q1@client.example>\r\n\r\nOur server logs say:\r\n\r\n"
           b"<buyer@shop.example>: host mx.shop.example said: 550 5.1.1 User unknown (in reply to RCPT TO command)\r\n")
    ctx = ingest(settings, raw)
    assert (ctx.outcome, ctx.ticket.number) == ("added", ticket.number)
    assert not Customer.select().where(Customer.bounce_state != "").exists()


def test_a_warning_worded_as_opensmtpd_words_it_is_a_delay_not_a_failure():
    raw = (b"From: MAILER-DAEMON@mx.client.example\r\nTo: support@example.com\r\n"
           b"Subject: Delivery status notification: warning\r\nMessage-ID: <w1@mx.client.example>\r\n\r\n"
           b"Hi!\r\n\r\nThis is the MAILER-DAEMON, please DO NOT REPLY to this email.\r\n\r\n"
           b"    A message is delayed for more than 4 hours for the following\r\n    list of recipients:\r\n\r\n"
           b"alice@client.example: Network error on destination MXs\r\n\r\n"
           b"    Please note that this is only a temporary failure report.\r\n"
           b"    The message is kept in the queue for up to 4 days.\r\n"
           b"    You DO NOT NEED to re-send the message to these recipients.\r\n")
    found = bounces.detect(parsing.parse(raw))
    assert found is not None and found.kind == "delay" and not found.permanent


def test_a_winmail_dat_beside_the_text_is_marked_for_review():
    raw = (b"From: alice@client.example\r\nTo: support@example.com\r\nSubject: Contract\r\n"
           b"Message-ID: <tnef@client.example>\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
           b"--m\r\nContent-Type: text/plain\r\n\r\nThe signed contract is attached.\r\n--m\r\n"
           b"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Disposition: attachment; "
           b"filename=winmail.dat\r\n\r\nx\x9f>\"\r\n--m--\r\n")
    assert any("winmail.dat" in problem for problem in parsing.parse(raw).problems)


def test_a_bounce_of_mail_to_an_internationalised_address_names_it_and_our_mail():
    """RFC 6533: an SMTPUTF8 mail's bounce carries UTF-8 in message/global-delivery-status and
    returns message/global-headers."""
    raw = ("From: MAILER-DAEMON@mx.client.example\r\nTo: support@example.com\r\nSubject: Undelivered Mail\r\n"
           "Message-ID: <g1@mx.client.example>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=global-delivery-status; boundary=G\r\n\r\n"
           "--G\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour message could not be delivered.\r\n"
           "--G\r\nContent-Type: message/global-delivery-status\r\n\r\nReporting-MTA: dns; mx.client.example\r\n\r\n"
           "Final-Recipient: utf-8; 王芳@例子.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
           "--G\r\nContent-Type: message/global-headers\r\n\r\nFrom: Example Support <support@example.com>\r\n"
           "To: 王芳@例子.example\r\nSubject: [#1] 发票\r\nMessage-ID: <ours-global@example.com>\r\n\r\n--G--\r\n")
    found = bounces.detect(parsing.parse(raw.encode()))
    assert (found.kind, found.permanent, found.original_message_ids) == (
        "failure", ["王芳@例子.example"], ["<ours-global@example.com>"])


@pytest.mark.parametrize("name", NOT_REPORTS)
def test_a_person_writing_about_a_bounce_is_no_report(name):
    assert bounces.detect(parsing.parse(read(name))) is None
    result = describe(read(name))
    assert not result["bounce"]["is_bounce"] and not result["complaint"] and not result["auto_reply"]


RETURNED_RECEIPT = b"""From: Alice Martin <alice@client.example>
To: support@example.com
Subject: Read: [#1] Cannot log in to my account
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="r"

--r
Content-Type: message/disposition-notification

Final-Recipient: rfc822;support@example.com
Disposition: manual-action/MDN-sent-manually; displayed

--r--
"""


def test_a_bounce_returning_a_report_is_a_bounce():
    """The report inside a returned message is not the mail's own: a bounce of a read receipt."""
    original = read("postfix_standard.eml").split(b"Content-Type: message/rfc822\n\n")[1].split(b"\n--")[0]
    raw = read("postfix_standard.eml").replace(original, RETURNED_RECEIPT)
    found = bounces.detect(parsing.parse(raw))
    assert (found.kind, found.permanent) == ("failure", [A])


def test_every_opening_phrase_is_lower_case_and_every_format_has_a_source():
    for entry in bounce_text.FORMATS:
        assert entry.source and all(phrase == phrase.lower() for phrase in entry.opens), entry.name
    assert all(phrase == phrase.lower() for phrase in bounce_text.ENDS + bounce_text.DELAYS)


# Through the pipeline: what each kind does to the customer and the ticket.
@pytest.fixture
def asked(settings):
    """Alice asked (ticket #1) and was acknowledged: the Message-ID of our acknowledgement."""
    ingest(settings, "new_question.eml")
    return Outbox.get().message_id


@pytest.mark.parametrize("name", ["dsn_delivered.eml", "dsn_relayed.eml", "ses_sns_delivery.eml"])
def test_a_success_report_marks_nobody_and_opens_no_ticket(settings, asked, name):
    ctx = ingest(settings, read(name, asked))
    assert ctx.outcome == "report" and ctx.ticket.number == 1
    assert state() == "" and Ticket.select().count() == 1 and Message.select().count() == 1
    assert Outbox.select().count() == 1  # nothing answered


@pytest.mark.parametrize("name", ["postfix_delayed.eml", "sendmail_warning_plain.eml", "exim_delay_warning.eml",
                                  "gmail_delay.eml", "exchange_delay_text.eml"])
def test_a_delay_marks_the_recipient_temporary_at_most(settings, asked, name):
    ctx = ingest(settings, read(name, asked))
    assert ctx.outcome == "bounce" and state() == "temporary"
    assert Ticket.select().count() == 1 and Outbox.select().count() == 1


def test_a_delay_after_a_permanent_failure_leaves_it_permanent(settings, asked):
    ingest(settings, read("postfix_standard.eml", asked))
    ingest(settings, read("exim_delay_warning.eml", asked))
    assert state() == "permanent"


@pytest.mark.parametrize("name", ["mdn_read_thunderbird.eml", "mdn_not_read_outlook.eml"])
def test_a_read_receipt_is_an_event_on_the_ticket_it_answers_and_nothing_more(settings, asked, name):
    status = Ticket.get().status
    ctx = ingest(settings, read(name, asked))
    assert (ctx.outcome, ctx.ticket.number) == ("report", 1)
    event = Event.get(Event.action == "read_receipt")
    assert event.ticket.number == 1 and A in event.detail
    assert Message.select().count() == 1 and Ticket.select().count() == 1 and Outbox.select().count() == 1
    assert state() == "" and Ticket.get().status == status


def test_a_read_receipt_for_mail_we_do_not_know_opens_nothing(settings):
    ctx = ingest(settings, read("mdn_displayed_no_headers.eml"))
    assert ctx.outcome == "report" and Ticket.select().count() == 0 and Customer.select().count() == 0


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e[0] == "complaint"))
def test_a_complaint_marks_the_complainant_and_opens_no_ticket(settings, name):
    complainant = EXPECTED[name][3][0]
    Customer.create(email=complainant)
    ctx = ingest(settings, read(name))
    assert ctx.outcome == "complaint" and state(complainant) == "complained"
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0


def test_a_complaint_is_recorded_on_the_ticket_of_the_mail_complained_about(settings, asked):
    ctx = ingest(settings, read("arf_redacted_recipient.eml", asked))
    assert (ctx.outcome, ctx.ticket.number) == ("complaint", 1) and state() == "complained"
    assert Event.get(Event.action == "complaint_report").detail.startswith(A)


def test_an_authentication_failure_report_is_nobody_s_complaint(settings, asked):
    assert ingest(settings, read("arf_auth_failure.eml", asked)).outcome == "report"
    assert state() == "" and Ticket.select().count() == 1


@pytest.mark.parametrize("name", ["postfix_standard.eml", "exim_permanent.eml", "sendmail_plain_fatal.eml",
                                  "james_bounce.eml", "interscan_en.eml", "ses_dsn.eml",
                                  "ses_sns_bounce_permanent.eml"])
def test_a_vendor_bounce_marks_the_recipient_and_the_ticket(settings, asked, name):
    ctx = ingest(settings, read(name, asked))
    assert (ctx.outcome, ctx.ticket.number) == ("bounce", 1) and state() == "permanent"
    assert Event.get(Event.action == "bounce").detail == f"permanent delivery failure for {A}"
    assert Ticket.select().count() == 1 and Outbox.select().count() == 1


@pytest.mark.parametrize("name", NOT_REPORTS)
def test_a_person_writing_about_a_bounce_gets_a_ticket(settings, name):
    assert ingest(settings, read(name)).outcome == "new_ticket"


# Decoding: subject, sender and body exactly, whatever the client did to the header.
DECODED = [
    ("decoding_address_in_unknown_8bit_word.eml", "Xavier", "xavier@client.example", "Printer queue",
     "The printer queue is stuck again."),
    ("decoding_address_in_base64_word.eml", "Zoë Müller", "zoe@client.example", "Größe der Anhänge",
     "Wie groß dürfen Anhänge sein?"),
    ("decoding_unquoted_comma_in_name.eml", "Test TEST, test", "test@test.com", "Comma in the name",
     "One sender, one address."),
    ("decoding_smtp_envelope_lines.eml", "Yusuf Demir", "yusuf@client.example", "Saved with its envelope",
     "The headers follow the SMTP envelope lines."),
    ("decoding_mbox_line_and_envelope.eml", "Yusuf Demir", "yusuf@client.example", "Envelope and mbox line",
     "mbox line, then the envelope, then the headers."),
]


@pytest.mark.parametrize("name, sender_name, sender, subject, text", DECODED, ids=[d[0] for d in DECODED])
def test_subject_sender_and_body_are_decoded_exactly(name, sender_name, sender, subject, text):
    raw = read(name)
    result = describe(raw)
    assert result["from"] == {"name": sender_name, "address": sender}
    assert (result["subject"], result["text"]) == (subject, text)
    assert result["to"][0]["address"] == "support@example.com"
    assert result["message_id"] == parsing.message_id_of(raw) != parsing.synthetic_message_id(raw)


def test_the_smtp_envelope_names_no_recipient_of_the_mail():
    result = describe(read("decoding_mbox_line_and_envelope.eml"))
    assert [t["address"] for t in result["to"]] == ["support@example.com", "sales@example.com"]
    assert result["message_id"] == "<dec-5@client.example>"


@pytest.mark.parametrize("values, expected", [
    (["Smith, John <john@client.example>, bob@client.example"],
     [("Smith, John", "john@client.example"), ("", "bob@client.example")]),
    (["Doe, Jane, Sr. <jane@client.example>"], [("Doe, Jane, Sr.", "jane@client.example")]),
    (['"Smith, John" <john@client.example>'], [("Smith, John", "john@client.example")]),
    (["=?utf-8?q?Smith=2C_John?= <john@client.example>"], [("Smith, John", "john@client.example")]),
    (["=?utf-8?q?boss@client.example?= <mallory@evil.example>"],
     [("boss@client.example", "mallory@evil.example")]),
    (["alice@client.example <mallory@evil.example>"], [("alice@client.example", "mallory@evil.example")]),
    (['Doe, Jane "JD" <jd@client.example>'], [("Doe, Jane JD", "jd@client.example")]),
    (["Team: ann@client.example, bob@client.example;"], [("", "ann@client.example"), ("", "bob@client.example")]),
    (["MAILER-DAEMON"], [("", "mailer-daemon")]),
], ids=["comma_name_then_address", "two_commas", "quoted", "comma_in_encoded_word", "address_like_name_word",
        "address_as_name", "comma_and_quotes", "group", "no_domain"])
def test_address_lists_keep_their_names_and_addresses(values, expected):
    assert parsing.addresses(values) == expected


# Cost: bounded and linear in the mail, whatever it holds; ordinary mail skips the readers.
HOSTILE = b"From: MAILER-DAEMON@mx.client.example\r\nTo: support@example.com\r\nSubject: Undelivered Mail\r\n\r\n"


@pytest.mark.parametrize("body", [
    b"this is the mail system at host \r\n" * 30_000,
    b"<u@client.example>: 550 5.1.1 unknown (in reply to RCPT TO command)\r\n" * 15_000,
    b"".join(b"<u%d@c%d.example>: 451 4.2.2 full\r\n" % (i, i) for i in range(30_000)),
    b"a" * 500_000 + b"@" + b"b." * 250_000,
    b"5.5.5.5.5.5 " * 80_000,
], ids=["openers", "one_address", "many_addresses", "at_signs", "codes"])
def test_a_hostile_notice_is_read_in_bounded_time(body):
    mail = parsing.parse(HOSTILE + body)
    started = time.process_time()
    found = bounces.detect(mail)
    assert time.process_time() - started < 3  # ~0.5 s per MB here, most of it flufl.bounce's
    assert found is not None and len(found.permanent + found.temporary) <= bounce_text.MAX_MATCHES


@pytest.mark.parametrize("raw", [
    b"From: no-reply@sns.amazonaws.com\r\nSubject: AWS Notification Message\r\n\r\n"
    b'{"notificationType":"Bounce","mail":' + b"[" * 400_000,
    b"RCPT TO:<a@client.example>\r\n" * 50_000 + b"From: a@client.example\r\nSubject: x\r\n\r\nbody",
    b"From: " + b"Smith, " * 20_000 + b"<j@client.example>\r\nTo: " + b"=?utf-8?b?QEA=?= " * 20_000 + b"\r\n\r\nx",
], ids=["deep_json", "envelope_lines", "commas_and_words"])
def test_hostile_reports_and_headers_cost_little(raw):
    started = time.process_time()
    describe(raw)
    assert time.process_time() - started < 2


def test_ordinary_mail_skips_the_report_readers():
    mail = parsing.parse(b"From: Alice <alice@client.example>\r\nTo: support@example.com\r\nSubject: Hello\r\n\r\n"
                         + b"Could not be delivered to: the following address(es) failed.\r\n" * 20_000)
    started = time.process_time()
    for _ in range(100):
        assert bounces.detect(mail) is None
    assert time.process_time() - started < 0.5  # ~20 microseconds each
