"""Staff by mail: notices carry a per-agent token, and the agent's answer to one reaches the
client as their reply, with nothing of the notice's own text; #note and #commands work too."""

import base64
import email
import email.policy

import pytest

from models.tables import Event, Message, Outbox, Ticket
from tests.conftest import ingest, openssl_cms, text_of
from tests.test_parsing import winmail


def parsed(row: Outbox):
    return email.message_from_bytes(bytes(row.raw), policy=email.policy.default)


@pytest.fixture
def staff(cast, settings):
    """The staff, and ticket #1 from Alice, of which every agent got a notice."""
    ingest(settings, "new_question.eml")
    return cast


def notice_to(address: str) -> Outbox:
    notices = Outbox.select().where((Outbox.kind == "notice") & (Outbox.rcpt_to == address))
    return notices.order_by(Outbox.id.desc()).first()


def answer(settings, notice: Outbox, sender: str, text: str):
    """The agent's answer to a notice, as a mail client writes it: new text, a quote header, the
    notice quoted with "> "."""
    original = parsed(notice)
    quoted = "\n".join("> " + line for line in text_of(original).splitlines())
    raw = (f"From: Agent <{sender}>\r\nTo: {original['Reply-To']}\r\nSubject: Re: {original['Subject']}\r\n"
           f"Message-ID: <answer-{abs(hash(text))}@example.com>\r\nIn-Reply-To: {original['Message-ID']}\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\n"
           f"On Mon, 23 Nov 2026 at 10:00, Example Support <support@example.com> wrote:\r\n{quoted}\r\n").encode()
    return ingest(settings, raw, rcpt=(original["Reply-To"].addresses[0].addr_spec,))


def test_a_new_ticket_notifies_every_agent_with_their_own_reply_token(staff):
    agnes, bob = notice_to("agnes@example.com"), notice_to("bob@example.com")
    mail = parsed(agnes)
    assert mail["Auto-Submitted"] == "auto-generated" and mail["In-Reply-To"] == "<new-question-1@client.example>"
    assert "reply above this line" in text_of(mail) and "cannot log in" in text_of(mail)
    assert mail["Reply-To"] != parsed(bob)["Reply-To"]  # one token per agent
    assert "/tickets/1" in text_of(mail)


def test_the_agents_answer_reaches_the_client_without_the_notice(settings, staff):
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "Unlocked it, please try again.")
    assert (ctx.outcome, ctx.threaded_by) == ("relayed", "token")
    [relayed] = Outbox.select().where(Outbox.kind == "agent_reply")
    mail = parsed(relayed)
    assert (str(mail["From"]), mail["To"]) == ("Example Support <support@example.com>", "alice@client.example")
    assert mail["In-Reply-To"] == "<new-question-1@client.example>"
    body = text_of(mail)
    assert "Unlocked it, please try again." in body
    assert "above this line" not in body and "New ticket from" not in body and "wrote:" not in body
    assert b"agnes@example.com" not in bytes(relayed.raw)


def test_a_chinese_answer_from_foxmail_is_cut_at_the_marker(settings, staff):
    notice = notice_to("bob@example.com")
    original = parsed(notice)
    raw = (f"From: Bob <bob@example.com>\r\nTo: {original['Reply-To']}\r\nSubject: 回复：{original['Subject']}\r\n"
           f"Message-ID: <bob-zh@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           f"好的，已经为您解锁。\r\n\r\n------------------ 原始邮件 ------------------\r\n"
           f"发件人: \"Example Support\"<support@example.com>\r\n\r\n{text_of(original)}").encode()
    ctx = ingest(settings, raw, rcpt=(original["Reply-To"].addresses[0].addr_spec,))
    assert ctx.outcome == "relayed"
    assert Message.get(Message.kind == "agent_reply").text == "好的，已经为您解锁。"


def test_note_by_mail_is_never_relayed(settings, staff):
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "#note\nShe called, it is her VPN.")
    assert ctx.outcome == "added" and Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert Message.get(Message.kind == "note").text == "She called, it is her VPN."


def test_mail_to_the_note_address_in_the_notice_is_a_note_even_with_a_reply_all(settings, staff):
    import re

    notice = parsed(notice_to("agnes@example.com"))
    [note_address] = re.findall(r"support\+n[0-9a-f]+t[0-9a-f]+-[0-9a-f]{20}@example\.com", text_of(notice))
    raw = (f"From: Agnes <agnes@example.com>\r\nTo: {notice['Reply-To']}, {note_address}\r\n"
           f"Subject: Re: {notice['Subject']}\r\nMessage-ID: <agnes-note@example.com>\r\n\r\n"
           f"Her VPN blocks us; I will call her.\r\n").encode()
    ctx = ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec, note_address))
    assert ctx.outcome == "added" and Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert Message.get(Message.kind == "note").text == "Her VPN blocks us; I will call her."
    forwarded = raw.replace(b"agnes@example.com>", b"eve@elsewhere.example>").replace(b"agnes-note", b"eve")
    assert ingest(settings, forwarded, rcpt=(note_address,)).agent is None  # only Agnes's own address


def test_commands_apply_and_the_rest_is_relayed(settings, staff):
    answer(settings, notice_to("agnes@example.com"), "agnes@example.com",
           "#pending\n#assign me\n#priority high\nCould you send us the log file?")
    ticket = Ticket.get()
    assert (ticket.status, ticket.assignee.email, ticket.priority) == ("pending", "agnes@example.com", "high")
    assert "send us the log file" in text_of(parsed(Outbox.get(Outbox.kind == "agent_reply")))
    assert {e.via for e in Event.select().where(Event.action.in_(("status", "assignee", "priority")))} == {"email"}


def test_tier_and_category_by_mail_in_english_and_chinese(settings, staff):
    answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "#tier vip\n＃分类 complaint")
    ticket = Ticket.get()
    assert (ticket.customer.tier, ticket.category) == ("vip", "complaint")
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0  # commands only: nothing relayed
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "#等级 gold\nHello")
    assert ctx.outcome == "refused" and Ticket.get().customer.tier == "vip"
    assert "unknown tier 'gold'" in parsed(Outbox.get(Outbox.kind == "command_error")).get_content()


def test_a_wrong_command_applies_nothing_and_tells_the_agent(settings, staff):
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "#priority asap\nDone.")
    assert ctx.outcome == "refused" and Ticket.get().priority == "normal"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    [told] = Outbox.select().where(Outbox.kind == "command_error")
    assert told.rcpt_to == "agnes@example.com" and "unknown priority" in text_of(parsed(told))


def test_a_forwarded_notice_answered_by_someone_else_is_a_clients_mail(settings, staff):
    ctx = answer(settings, notice_to("agnes@example.com"), "eve@elsewhere.example", "Please send me the data.")
    assert ctx.agent is None and Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert Message.get(Message.from_address == "eve@elsewhere.example").outsider


def test_an_assigned_ticket_notifies_its_assignee_only_and_notices_can_be_turned_off(settings, staff):
    from actions import tickets as act

    act.assign(Ticket.get(), staff["bob"], actor=staff["agnes"], via="web")
    before = Outbox.select().where(Outbox.kind == "notice").count()
    ingest(settings, "reply_subject_tag_only.eml")  # Alice writes again
    new = list(Outbox.select().where(Outbox.kind == "notice").order_by(Outbox.id))[before:]
    assert [n.rcpt_to for n in new] == ["bob@example.com"]
    staff["bob"].notices = False
    staff["bob"].save()
    ingest(settings, b"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\n"
                     b"Subject: Re: [#1] Cannot log in to my account\r\nMessage-ID: <alice-3@client.example>\r\n\r\n"
                     b"Still locked.\r\n")
    assert Ticket.select().count() == 1
    assert Outbox.select().where(Outbox.kind == "notice").count() == before + 1  # none for Bob now


def reply_to_notice(settings, notice: Outbox, body: str, *, headers: str = "", subject: str = "",
                    message_id: str = "<agnes-mail@example.com>"):
    """Agnes's mail to her notice's reply address, `body` as her client wrote it whole."""
    original = parsed(notice)
    raw = (f"From: Agnes <agnes@example.com>\r\nTo: {original['Reply-To']}\r\n"
           f"Subject: {subject or 'Re: ' + original['Subject']}\r\nMessage-ID: {message_id}\r\n"
           f"In-Reply-To: {original['Message-ID']}\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n"
           f"{body}").encode()
    return ingest(settings, raw, rcpt=(original["Reply-To"].addresses[0].addr_spec,))


def quoted_notice(notice: Outbox) -> str:
    return "\r\n".join("> " + line for line in text_of(parsed(notice)).splitlines())


@pytest.mark.parametrize("headers, subject", [
    ("Auto-Submitted: auto-replied\r\n", "Automatic reply: [#1] Cannot log in to my account"),
    ("Precedence: bulk\r\nX-Autoreply: yes\r\n", ""),
    ("", "自动回复: [#1] Cannot log in to my account"),
])
def test_an_agents_out_of_office_reply_never_reaches_the_client(settings, staff, headers, subject):
    ctx = reply_to_notice(settings, notice_to("agnes@example.com"),
                          "I am out of the office until 14 December with no access to mail.\r\n",
                          headers=headers, subject=subject)
    assert ctx.outcome == "auto_reply"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    ticket = Ticket.get()
    assert ticket.status == "new" and ticket.first_responded_at is None
    assert Event.get(Event.action == "agent_auto_reply").actor == "agnes@example.com"


@pytest.mark.parametrize("typed", [
    "#resolve\r\n\r\nBest regards,\r\nAgnes Smith\r\nSupport Engineer | Example Corp",
    "#解决\r\n\r\n谢谢！\r\nAgnes Smith",
    "#pending\r\n\r\nKind regards\r\n\r\n-- \r\nAgnes Smith, Example Corp",
])
def test_a_commands_only_mail_with_a_sign_off_sends_the_client_nothing(settings, staff, typed):
    ctx = reply_to_notice(settings, notice_to("agnes@example.com"),
                          f"{typed}\r\n\r\nOn Mon, 23 Nov 2026, Example Support <support@example.com> wrote:\r\n"
                          f"{quoted_notice(notice_to('agnes@example.com'))}\r\n")
    assert ctx.outcome == "commands"
    assert Ticket.get().status in ("resolved", "pending")
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0


def test_a_bottom_posted_answer_reaches_the_client(settings, staff):
    notice = notice_to("agnes@example.com")
    ctx = reply_to_notice(settings, notice, f"On Mon, 23 Nov 2026, Example Support <support@example.com> wrote:\r\n"
                          f"{quoted_notice(notice)}\r\n\r\nHi Alice, I have unlocked your account.\r\n\r\nAgnes\r\n")
    assert ctx.outcome == "relayed"
    assert Message.get(Message.kind == "agent_reply").text == "Hi Alice, I have unlocked your account."


def test_a_mail_with_nothing_to_send_is_answered_to_the_agent_not_dropped(settings, staff):
    """Outlook quotes without "> ": nothing above the line is nothing, and the agent hears so."""
    notice = notice_to("agnes@example.com")
    ctx = reply_to_notice(settings, notice, f"From: Example Support <support@example.com>\r\nSent: Monday\r\n"
                          f"To: Agnes\r\nSubject: {parsed(notice)['Subject']}\r\n\r\n{text_of(parsed(notice))}\r\n")
    assert ctx.outcome == "refused"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    told = Outbox.get(Outbox.kind == "command_error")
    assert told.rcpt_to == "agnes@example.com" and "no text of yours" in text_of(parsed(told))
    assert Event.get(Event.action == "nothing_sent")


def test_the_agents_own_lines_that_look_like_headers_or_start_with_their_name_reach_the_client(settings, staff):
    from models import agents

    agents.create_agent("lina@example.com", "x" * 12, name="李娜")
    typed = ("Please fill in the form like this:\r\n\r\nFrom: Your Name\r\nTo: billing@example.com\r\n"
             "Subject: Invoice 2026-11\r\n\r\nThen press Send.")
    ctx = reply_to_notice(settings, notice_to("agnes@example.com"),
                          f"{typed}\r\n\r\n-----Original Message-----\r\n"
                          f"From: Example Support <support@example.com>\r\n"
                          f"Sent: Monday, November 23, 2026 10:00 AM\r\nTo: Agnes\r\nSubject: x\r\n\r\n"
                          f"{text_of(parsed(notice_to('agnes@example.com')))}\r\n")
    assert ctx.outcome == "relayed"
    assert Message.get(Message.kind == "agent_reply").text == typed.replace("\r\n", "\n")
    from mailer import quotes

    kept = "您好，\n\n账户已经解锁\n李娜明天上午会再给您打电话确认\n如有问题请随时回复本邮件"
    assert quotes.drop_named_signature(kept + "\n李娜 客服经理", ("李娜",)) == kept


def test_an_agent_forwarding_a_ticket_mail_to_support_makes_a_note_not_a_reply(settings, staff):
    notice = notice_to("agnes@example.com")
    ctx = reply_to_notice(settings, notice, f"Bob, can you take this one? It is the VPN thing again.\r\n\r\n"
                          f"---------- Forwarded message ---------\r\nFrom: Example Support <support@example.com>\r\n"
                          f"Date: Mon, 23 Nov 2026\r\nSubject: {parsed(notice)['Subject']}\r\nTo: Agnes\r\n\r\n"
                          f"{text_of(parsed(notice))}\r\n", subject=f"Fwd: {parsed(notice)['Subject']}")
    assert ctx.outcome == "added"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert Message.get(Message.kind == "note").text == "Bob, can you take this one? It is the VPN thing again."


def test_answering_the_not_applied_mail_with_the_command_corrected_applies_it(settings, staff):
    answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "#priority asap\nDone.")
    told = Outbox.get(Outbox.kind == "command_error")
    assert parsed(told)["Reply-To"] == parsed(notice_to("agnes@example.com"))["Reply-To"]
    ctx = answer(settings, told, "agnes@example.com", "#priority urgent\nDone.")
    assert ctx.outcome == "relayed" and Ticket.get().priority == "urgent"


def test_a_command_behind_an_invisible_character_from_an_html_editor_still_applies(settings, staff):
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "\u200b#close")
    assert ctx.outcome == "commands" and Ticket.get().status == "closed"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0


def test_an_agent_the_client_copies_is_not_made_a_participant(settings, staff):
    raw = (b"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\nCc: Bob <Bob@example.com>, "
           b"Carol <carol@client.example>\r\nSubject: Re: [#1] Cannot log in\r\n"
           b"Message-ID: <alice-2@client.example>\r\n"
           b"In-Reply-To: <new-question-1@client.example>\r\n\r\nBob, see my colleague Carol too.\r\n")
    assert ingest(settings, raw).outcome == "added"
    from models import customers

    assert customers.participant_addresses(Ticket.get()) == ["carol@client.example"]


def test_a_reply_is_threaded_under_the_clients_mail_not_an_outsiders(settings, staff):
    raw = (b"From: Eve <eve@elsewhere.example>\r\nTo: support@example.com\r\nSubject: Re: Cannot log in\r\n"
           b"Message-ID: <eve-1@elsewhere.example>\r\nIn-Reply-To: <new-question-1@client.example>\r\n\r\nMe too.\r\n")
    assert ingest(settings, raw).outcome == "added"
    answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "Unlocked it, please try again.")
    reply = parsed(Outbox.get(Outbox.kind == "agent_reply"))
    assert reply["In-Reply-To"] == "<new-question-1@client.example>" and reply["To"] == "alice@client.example"


def test_an_agent_answering_from_a_sub_address_of_theirs_is_them(settings, staff):
    ctx = answer(settings, notice_to("agnes@example.com"), "Agnes+Helpdesk@example.com", "Unlocked, try again.")
    assert ctx.outcome == "relayed" and ctx.agent.email == "agnes@example.com"


def test_an_agent_answering_with_anothers_notice_is_told_it_reached_no_client(settings, staff):
    """Bob answers the notice Agnes forwarded him: his mail proves nothing (it is a client's), and
    he learns the client got nothing instead of thinking he answered."""
    ctx = answer(settings, notice_to("agnes@example.com"), "bob@example.com", "I will take it: try again now.")
    assert ctx.agent is None and Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    [told] = Outbox.select().where((Outbox.kind == "command_error") & (Outbox.rcpt_to == "bob@example.com"))
    assert "DKIM" in text_of(parsed(told))
    assert parsed(told)["Reply-To"] == parsed(notice_to("bob@example.com"))["Reply-To"]  # his own, to answer


def test_the_not_applied_mail_of_a_chinese_mailbox_says_each_error_in_chinese(settings, cast):
    raw = ("From: 王芳 <wang@client.example>\r\nTo: zh@example.cn\r\nSubject: 发票\r\n"
           "Message-ID: <zh-1@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n发票还没收到。\r\n")
    ingest(settings, raw.encode(), rcpt=("zh@example.cn",))
    answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "#priority asap\n#frobnicate\n#assign nobody")
    text = text_of(parsed(Outbox.get(Outbox.kind == "command_error")))
    assert "没有执行任何操作" in text
    assert "未知优先级 'asap'" in text and "#frobnicate：未知命令" in text and "#assign nobody：没有这位客服" in text
    assert "unknown" not in text and "no such agent" not in text


def test_a_note_command_below_the_text_sends_nothing_to_the_client_and_tells_the_agent(settings, staff):
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "Internal: legacy plan.\n#note")
    assert ctx.outcome == "refused"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert "#note is below your text" in text_of(parsed(Outbox.get(Outbox.kind == "command_error")))


@pytest.mark.parametrize("text", ["# note\nLegacy plan: no refund.", "＃\u3000备注\nLegacy plan: no refund."])
def test_a_note_typed_with_a_space_after_the_sign_never_reaches_the_client(settings, staff, text):
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", text)
    assert ctx.outcome == "added"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0


def test_a_command_in_the_subject_sends_nothing_and_tells_the_agent(settings, staff):
    notice = notice_to("agnes@example.com")
    original = parsed(notice)
    raw = (f"From: Agent <agnes@example.com>\r\nTo: {original['Reply-To']}\r\nSubject: Re: {original['Subject']} #note"
           f"\r\nMessage-ID: <subject-note@example.com>\r\nIn-Reply-To: {original['Message-ID']}\r\n\r\n"
           f"Legacy plan: no refund.\r\n").encode()
    ctx = ingest(settings, raw, rcpt=(original["Reply-To"].addresses[0].addr_spec,))
    assert ctx.outcome == "refused"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert "in the subject" in text_of(parsed(Outbox.get(Outbox.kind == "command_error")))


def test_an_agents_reply_address_acts_on_its_own_ticket_only(settings, staff):
    """Agnes's address for ticket #1 beside ticket #2's client address: her mail is hers on #1,
    never a way to act on #2 (a leaked agent address must not reach every other ticket)."""
    from mailer.notify import reply_address

    first = parsed(notice_to("agnes@example.com"))
    ingest(settings, b"From: bob@other.example\r\nTo: support@example.com\r\nSubject: Second\r\n"
                     b"Message-ID: <second@other.example>\r\n\r\nAnother question.\r\n")
    second = Ticket.get(Ticket.number == 2)
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {first['Reply-To']}, {reply_address(second)}\r\n"
           f"Subject: Re: {first['Subject']}\r\nMessage-ID: <two-tokens@example.com>\r\n\r\n#priority urgent\r\n"
           f"Done.\r\n").encode()
    ctx = ingest(settings, raw, rcpt=(reply_address(second), first["Reply-To"].addresses[0].addr_spec))
    assert ctx.ticket.number == 1 and ctx.agent is not None
    assert Ticket.get(Ticket.number == 2).priority != "urgent"


def test_an_answer_to_an_agents_reply_address_from_an_address_not_theirs_tells_that_agent(settings, staff):
    """Agnes answers from her Exchange alias, unknown to Postdesk: kept as that sender's mail,
    nothing reaches the client, and Agnes is told why and what to do."""
    ctx = answer(settings, notice_to("agnes@example.com"), "a.smith@example.com", "Your account is unlocked.")
    assert ctx.agent is None and ctx.outcome == "added"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    [told] = Outbox.select().where((Outbox.kind == "command_error") & (Outbox.rcpt_to == "agnes@example.com"))
    assert "from a.smith@example.com, which is not an address of your login" in text_of(parsed(told))


def test_assign_by_a_name_two_agents_share_is_refused_not_given_to_either(settings, staff):
    from models import agents

    agents.create_agent("li.na@example.com", "correct horse battery", name="李娜")
    agents.create_agent("lina2@example.com", "correct horse battery", name="李娜")
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", "#assign 李娜\nPlease take it.")
    assert ctx.outcome == "refused" and Ticket.get(Ticket.number == 1).assignee is None
    assert "more than one agent" in text_of(parsed(Outbox.get(Outbox.kind == "command_error")))


def test_an_answer_with_a_forward_pasted_below_the_agents_words_is_not_sent_half_and_the_agent_is_told(
        settings, staff):
    text = ("Here is what the vendor says about your order:\n\n---------- Forwarded message ---------\n"
            "From: Vendor <orders@vendor.example>\nDate: Mon, 23 Nov 2026 at 09:00\nSubject: Order 42\n"
            "To: Agnes <agnes@example.com>\n\nOrder 42 ships on Friday.")
    ctx = answer(settings, notice_to("agnes@example.com"), "agnes@example.com", text)
    assert ctx.outcome == "refused"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert "forwarded mail below your words" in text_of(parsed(Outbox.get(Outbox.kind == "command_error")))


def test_an_eml_the_agent_attaches_on_purpose_reaches_the_client(settings, staff):
    notice = parsed(notice_to("agnes@example.com"))
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {notice['Reply-To']}\r\nSubject: RE: {notice['Subject']}\r\n"
           f"Message-ID: <eml-on-purpose@example.com>\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
           f"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is the confirmation you asked for.\r\n"
           f"--m\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=confirmation.eml\r\n\r\n"
           f"From: Shop <orders@shop.example>\r\nSubject: Order confirmed\r\n\r\nOrder 42 confirmed.\r\n--m--\r\n"
           ).encode()
    assert ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec,)).outcome == "relayed"
    mail = parsed(Outbox.get(Outbox.kind == "agent_reply"))
    assert [p.get_filename() for p in mail.iter_attachments()] == ["confirmation.eml"]


def test_the_clients_reply_all_to_an_agents_mail_tells_the_agent_nothing(settings, staff):
    """Alice answers with reply-all a mail Agnes sent from her reply address: Alice's mail, on her
    ticket, and no "an address not yours wrote" note to Agnes (its advice would be wrong)."""
    ctx = answer(settings, notice_to("agnes@example.com"), "alice@client.example", "Thanks, it works now.")
    assert ctx.agent is None and ctx.outcome == "added"
    assert not Outbox.select().where(Outbox.kind == "command_error").exists()


S = "Example Support <support@example.com>"
AGENT = "Agnes Smith <agnes@example.com>"


@pytest.mark.parametrize("header, quoted", [
    (f"Từ: {S}\r\nĐã gửi: Thứ Hai, ngày 23 tháng 11 năm 2026 10:00\r\nĐến: {AGENT}\r\n"
     "Chủ đề: [#1] Cannot log in", False),  # Outlook in Vietnamese: no table knows its field names
    (f"จาก: {S}\r\nส่ง: 23 พฤศจิกายน 2569 10:00\r\nถึง: {AGENT}\r\nเรื่อง: [#1] Cannot log in", False),  # Thai
    (f"Pada Sen, 23 Nov 2026 pukul 10.00 {S} menulis:", True),  # Gmail in Indonesian
    (f"În lun., 23 nov. 2026 la 10:00, {S} a scris:", True),  # Gmail in Romanian
    (f"原始邮件\r\n发件人：{S}\r\n发送时间：2026年11月23日(星期一) 上午10:00\r\n收件人：{AGENT}\r\n"
     "主题：[#1] Cannot log in", False),  # WeCom: "Original message" without its dashes
], ids=["outlook-vi", "outlook-th", "gmail-id", "gmail-ro", "wecom"])
def test_a_quote_header_in_any_language_naming_the_notices_addresses_never_reaches_the_client(
        settings, staff, header, quoted):
    notice = parsed(notice_to("agnes@example.com"))
    body = "\r\n".join(("> " if quoted else "") + line for line in text_of(notice).splitlines())
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {notice['Reply-To']}\r\nSubject: Re: {notice['Subject']}\r\n"
           f"Message-ID: <any-{abs(hash(header))}@example.com>\r\nIn-Reply-To: {notice['Message-ID']}\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\nHi Alice, your account is unlocked now.\r\n\r\n"
           f"{header}\r\n\r\n{body}\r\n").encode()
    assert ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec,)).outcome == "relayed"
    [relayed] = Outbox.select().where(Outbox.kind == "agent_reply")
    assert text_of(parsed(relayed)).split("\n-- \n")[0].strip() == "Hi Alice, your account is unlocked now."


def test_a_block_of_fields_the_agent_typed_stays_in_their_answer(settings, staff):
    text = "Please send us these details:\nName: your full name\nAccount: your account number\nPhone: a number"
    answer(settings, notice_to("agnes@example.com"), "agnes@example.com", text)
    [relayed] = Outbox.select().where(Outbox.kind == "agent_reply")
    assert "Phone: a number" in text_of(parsed(relayed)) and "Name: your full name" in text_of(parsed(relayed))


def test_a_screenshot_pasted_into_the_agents_answer_reaches_the_client_and_a_logo_below_does_not(settings, staff):
    import base64

    notice = parsed(notice_to("agnes@example.com"))
    shot, logo = b"\x89PNG screenshot", b"\x89PNG logo"
    text = ("Please click Reset as shown here:\r\n\r\n[cid:image001.png@01DB3C4A]\r\n\r\nThen log in again.\r\n\r\n"
            "Agnes Smith\r\n[cid:logo@example.com]\r\nSupport Engineer | Example Corp\r\n\r\n"
            "From: Example Support <support@example.com>\r\nSent: Monday, November 23, 2026 10:00 AM\r\n"
            "To: Agnes Smith <agnes@example.com>\r\nSubject: x\r\n\r\n" + "\r\n".join(text_of(notice).splitlines()))
    parts = "".join(f"--rel\r\nContent-Type: image/png; name=\"{name}\"\r\nContent-Disposition: inline; "
                    f"filename=\"{name}\"\r\nContent-ID: <{cid}>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    f"{base64.b64encode(data).decode()}\r\n"
                    for name, cid, data in (("image001.png", "image001.png@01DB3C4A", shot),
                                            ("logo.png", "logo@example.com", logo)))
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {notice['Reply-To']}\r\nSubject: RE: {notice['Subject']}\r\n"
           f"Message-ID: <pasted@example.com>\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n"
           f"--rel\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n{parts}--rel--\r\n").encode()
    assert ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec,)).outcome == "relayed"
    mail = parsed(Outbox.get(Outbox.kind == "agent_reply"))
    assert [(p.get_filename(), p.get_content()) for p in mail.iter_attachments()] == [("image001.png", shot)]
    assert "[image: image001.png]" in text_of(mail) and "cid:" not in text_of(mail)


@pytest.mark.parametrize("text", ["#note\r\nThe server log, for Bob.", "#note"])
def test_a_note_by_mail_keeps_its_attachment_even_alone(settings, staff, text):
    from models.tables import Attachment

    notice = parsed(notice_to("agnes@example.com"))
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {notice['Reply-To']}\r\nSubject: Re: {notice['Subject']}\r\n"
           f"Message-ID: <note-file-{len(text)}@example.com>\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
           f"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--m\r\nContent-Type: text/plain; "
           f"name=auth.log\r\nContent-Disposition: attachment; filename=auth.log\r\n\r\nFailed password for alice\r\n"
           f"--m--\r\n").encode()
    assert ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec,)).outcome == "added"
    note = Message.get(Message.kind == "note")
    assert [a.filename for a in Attachment.select().where(Attachment.message == note)] == ["auth.log"]
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0


def test_what_the_agents_mail_client_wraps_around_an_answer_never_reaches_the_client(settings, staff):
    """Outlook's "Attach original message" (our notice, with the agent's reply address), a
    detached S/MIME signature (a certificate naming the agent), Outlook's winmail.dat with its
    text in RTF beside the plain one: the client gets the text and the file the agent attached,
    nothing else."""
    notice = parsed(notice_to("agnes@example.com"))
    rtf = base64.b64encode(winmail(rtf=True)).decode()
    parts = [("application/pdf", "invoice.pdf", "attachment", "%PDF-1.4 the invoice"),
             ("application/pkcs7-signature", "smime.p7s", "attachment", "MIIGcert"),
             ("application/ms-tnef\r\nContent-Transfer-Encoding: base64", "winmail.dat", "attachment", rtf),
             ("message/rfc822", "", "attachment", f"From: {notice['From']}\r\nReply-To: {notice['Reply-To']}\r\n"
                                                   f"Subject: {notice['Subject']}\r\n\r\n{text_of(notice)}")]
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {notice['Reply-To']}\r\nSubject: RE: {notice['Subject']}\r\n"
           f"Message-ID: <wrapped@example.com>\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
           f"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is your corrected invoice.\r\n"
           + "".join(f"--m\r\nContent-Type: {ctype}\r\nContent-Disposition: {disposition}"
                     f"{'; filename=' + name if name else ''}\r\n\r\n{data}\r\n"
                     for ctype, name, disposition, data in parts)
           + "--m--\r\n").encode()
    assert ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec,)).outcome == "relayed"
    mail = parsed(Outbox.get(Outbox.kind == "agent_reply"))
    assert [p.get_filename() for p in mail.iter_attachments()] == ["invoice.pdf"]
    assert notice["Reply-To"].addresses[0].addr_spec.encode() not in bytes(Outbox.get(Outbox.kind == "agent_reply").raw)


def test_an_inline_pgp_signed_answer_reaches_the_client_as_the_agent_wrote_it(settings, staff):
    text = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nYour account is unlocked.\n- -- \nAgnes\n"
            "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----")
    answer(settings, notice_to("agnes@example.com"), "agnes@example.com", text)
    sent = text_of(parsed(Outbox.get(Outbox.kind == "agent_reply")))
    assert "Your account is unlocked." in sent and "PGP" not in sent and "iQEz" not in sent


def test_two_screenshots_gmail_names_alike_both_reach_the_client(settings, staff):
    import base64

    notice = parsed(notice_to("agnes@example.com"))
    quoted = "\r\n".join("> " + line for line in text_of(notice).splitlines())
    text = ("First this:\r\n[image: image.png]\r\nthen this:\r\n[image: image.png]\r\n\r\n"
            f"On Mon, 23 Nov 2026 at 10:00, Example Support <support@example.com> wrote:\r\n{quoted}")
    parts = "".join(f"--rel\r\nContent-Type: image/png; name=\"image.png\"\r\nContent-Disposition: inline; "
                    f"filename=\"image.png\"\r\nContent-ID: <ii_{n}>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    f"{base64.b64encode(data).decode()}\r\n" for n, data in ((1, b"first"), (2, b"second")))
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {notice['Reply-To']}\r\nSubject: Re: {notice['Subject']}\r\n"
           f"Message-ID: <two-pastes@example.com>\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n"
           f"--rel\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n{parts}--rel--\r\n").encode()
    assert ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec,)).outcome == "relayed"
    mail = parsed(Outbox.get(Outbox.kind == "agent_reply"))
    assert [p.get_content() for p in mail.iter_attachments()] == [b"first", b"second"]


def test_an_agents_opaque_signed_answer_reaches_the_client_as_text(settings, staff, tmp_path):
    # Before, the answer was inside the signature: no text, so nothing was sent and the agent was told.
    original = parsed(notice_to("agnes@example.com"))
    entity = (b"Content-Type: text/plain; charset=utf-8\r\n\r\nSigned and sent: your account is unlocked.\r\n\r\n"
              b"On Mon, 23 Nov 2026 at 10:00, Example Support <support@example.com> wrote:\r\n> earlier\r\n")
    head = (f"From: Agnes <agnes@example.com>\r\nTo: {original['Reply-To']}\r\nSubject: Re: {original['Subject']}\r\n"
            f"Message-ID: <signed-answer@example.com>\r\nIn-Reply-To: {original['Message-ID']}\r\n").encode()
    raw = head + openssl_cms(tmp_path, entity, "-sign", "-nodetach", "-outform", "SMIME")
    assert b"smime-type=signed-data" in raw
    ctx = ingest(settings, raw, rcpt=(original["Reply-To"].addresses[0].addr_spec,))
    assert ctx.outcome == "relayed"
    [relayed] = Outbox.select().where(Outbox.kind == "agent_reply")
    mail = parsed(relayed)
    assert "Signed and sent: your account is unlocked." in text_of(mail)
    assert not any(part.get_filename() for part in mail.walk())  # no smime.p7m for the client


def answer_copying(settings, notice: Outbox, cc: str, text: str):
    """The agent's answer to a notice with people in Cc, as they add them in their mail client."""
    return reply_to_notice(settings, notice, f"{text}\r\n", headers=f"Cc: {cc}\r\n",
                           message_id=f"<cc-{abs(hash(cc))}@example.com>")


def test_a_client_the_agent_copied_is_not_sent_the_answer_twice(settings, staff):
    # Alice got Agnes's own mail (Cc); Postdesk's copy from the support address would be a second one.
    ctx = answer_copying(settings, notice_to("agnes@example.com"), "Alice Martin <Alice@client.example>",
                         "I copied you so you have it at once: unlocked.")
    assert ctx.outcome == "relayed"
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert "unlocked" in Message.get(Message.kind == "agent_reply").text  # on the thread all the same
    event = Event.get(Event.action == "reply")
    assert "alice@client.example had the agent's own mail" in event.detail


def test_people_an_agent_copies_join_the_ticket_and_get_the_next_answers(settings, staff):
    answer_copying(settings, notice_to("agnes@example.com"),
                   "Dan Wu <dan@client.example>, Bob Chen <bob@example.com>, support@example.com",
                   "Dan from your IT team will help; I copied him.")
    [first] = Outbox.select().where(Outbox.kind == "agent_reply")
    assert first.rcpt_to == "alice@client.example"  # Dan had Agnes's own mail
    assert [p.customer.email for p in Ticket.get().participants] == ["dan@client.example"]  # not staff, not us
    answer(settings, notice_to("bob@example.com"), "bob@example.com", "Dan, please restart the server.")
    latest = Outbox.select().where(Outbox.kind == "agent_reply").order_by(Outbox.id.desc())
    assert sorted(row.rcpt_to for row in latest[:2]) == ["alice@client.example", "dan@client.example"]


def test_people_copied_on_a_note_by_mail_do_not_join_the_ticket(settings, staff):
    answer_copying(settings, notice_to("agnes@example.com"), "Dan Wu <dan@client.example>", "#note check the logs")
    assert not list(Ticket.get().participants)


def answer_with_winmail(settings, notice, text: str, data: bytes):
    """Agnes's answer from Outlook in rich text: her text, and a winmail.dat holding `data`."""
    raw = (f"From: Agnes Smith <agnes@example.com>\r\nTo: {notice['Reply-To']}\r\nSubject: RE: {notice['Subject']}\r\n"
           f"Message-ID: <tnef-{abs(hash(data))}@example.com>\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
           f"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--m\r\n"
           f"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           f"{base64.b64encode(data).decode()}\r\n--m--\r\n").encode()
    return ingest(settings, raw, rcpt=(notice["Reply-To"].addresses[0].addr_spec,))


def test_the_files_in_an_agents_winmail_dat_reach_the_client_as_files(settings, staff):
    notice = parsed(notice_to("agnes@example.com"))
    logo = ("image001.png", "IMAGE001.PNG", "image/png", b"\x89PNG", [(0x000B, 0x7FFE, 1)])  # her signature's
    data = winmail(files=[("Rechnung 4471.pdf", "RECHNU~1.PDF", "application/pdf", b"%PDF-1.4 the invoice"), logo])
    assert answer_with_winmail(settings, notice, "The invoice you asked for.", data).outcome == "relayed"
    mail = parsed(Outbox.get(Outbox.kind == "agent_reply"))
    [pdf] = mail.iter_attachments()
    assert (pdf.get_filename(), pdf.get_content()) == ("Rechnung 4471.pdf", b"%PDF-1.4 the invoice")


def test_an_agents_signed_answer_wrapping_a_whole_mail_reaches_the_client_as_text(settings, staff, tmp_path):
    # RFC 8551 §3.1: a client may sign the whole mail (message/rfc822), quoted notice and all.
    original = parsed(notice_to("agnes@example.com"))
    inner = (f"From: Agnes <agnes@example.com>\r\nTo: {original['Reply-To']}\r\nSubject: Re: {original['Subject']}\r\n"
             f"Content-Type: text/plain; charset=utf-8\r\n\r\nWrapped and signed: unlocked.\r\n\r\n"
             f"On Mon, 23 Nov 2026, Example Support <support@example.com> wrote:\r\n> New ticket\r\n")
    entity = b"Content-Type: message/rfc822\r\n\r\n" + inner.encode()
    head = (f"From: Agnes <agnes@example.com>\r\nTo: {original['Reply-To']}\r\nSubject: Re: {original['Subject']}\r\n"
            f"Message-ID: <wrapped-signed@example.com>\r\n").encode()
    raw = head + openssl_cms(tmp_path, entity, "-sign", "-nodetach", "-outform", "SMIME")
    assert ingest(settings, raw, rcpt=(original["Reply-To"].addresses[0].addr_spec,)).outcome == "relayed"
    mail = parsed(Outbox.get(Outbox.kind == "agent_reply"))
    assert "Wrapped and signed: unlocked." in text_of(mail) and not list(mail.iter_attachments())


@pytest.mark.parametrize("cc", [
    "Alice <alice+work@client.example>",  # the client, under a +tag: theirs, and they had the mail
    "Bob <bob+tickets@example.com>",  # an agent, under a +tag
    "Charlie <charlie@example.com>",  # a former agent
    "Help <help@example.com>, billing@example.com",  # aliases of ours that never wrote to us
])
def test_whom_an_agent_copies_who_is_no_participant(settings, staff, cc):
    from models.tables import Agent

    Agent.update(active=False).where(Agent.email == "charlie@example.com").execute()
    answer_copying(settings, notice_to("agnes@example.com"), cc, "Copied.")
    assert not list(Ticket.get().participants)
    sent = [row.rcpt_to for row in Outbox.select().where(Outbox.kind == "agent_reply")]
    assert sent == ([] if "alice" in cc else ["alice@client.example"])


def test_a_colleague_on_our_domain_who_wrote_to_us_before_can_be_copied_in(settings, staff):
    # An internal helpdesk: the clients share the support address's domain.
    notice = notice_to("agnes@example.com")  # of ticket #1
    ingest(settings, b"From: Erin <erin@example.com>\r\nTo: support@example.com\r\nSubject: VPN\r\n"
                     b"Message-ID: <erin@example.com>\r\n\r\nThe VPN is down.\r\n")
    answer_copying(settings, notice, "Erin <erin@example.com>", "Erin knows the VPN.")
    assert [p.customer.email for p in Ticket.get_by_id(1).participants] == ["erin@example.com"]


@pytest.mark.parametrize("data", [
    winmail(files=[("RE: the order", "RE_THE~1", "", None,  # an Outlook item (a mail) attached
                    [(0x000D, 0x3701, b"\x07\x03\x02\x00" + b"\0" * 12 + b"TNEF")])]),
    b"x\x9f>\"not what Outlook writes",  # a winmail.dat that does not read
])
def test_an_agents_answer_whose_winmail_dat_could_not_all_be_unpacked_sends_nothing_and_says_so(settings, staff,
                                                                                                 data):
    # The client would get the words without what the agent attached.
    notice = parsed(notice_to("agnes@example.com"))
    assert answer_with_winmail(settings, notice, "Here is the mail you asked about.", data).outcome == "refused"
    assert not Outbox.select().where(Outbox.kind == "agent_reply").exists()
    told = text_of(parsed(Outbox.get(Outbox.kind == "command_error")))
    assert "winmail.dat, of which not all could be unpacked" in told and "nothing was sent" in told
