"""Staff by mail: notices carry a per-agent token, and the agent's answer to one reaches the
client as their reply, with nothing of the notice's own text; #note and #commands work too."""

import email
import email.policy

import pytest

from models.tables import Event, Message, Outbox, Ticket
from tests.conftest import ingest, text_of


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
