"""Staff by mail, end to end: clients and agents write to the real SMTP edge, the worker runs,
and everything Postdesk sends goes through a real SMTP relay whose deliveries (envelope and
headers) are what these tests read. What the client receives is asserted in full."""

from __future__ import annotations

import email.policy
import email.utils
import re
import smtplib
import threading
import time

import pytest

from mailer.smtp_edge import make_controller
from models import agents, migrations
from models.tables import Customer, Event, InboundMail, Message, Outbox, Ticket
from postdesk import runtime
from tests import staff_clients
from tests.conftest import free_port, make_settings, run_worker, text_of

ALICE = "alice@client.example"
MAILBOXES = [{"address": "support@example.com", "name": "Example Support", "signature": "The Example support team"},
             {"address": "zh@example.cn", "name": "客服中心", "language": "zh", "signature": "客服中心"}]


class Desk:
    """One installation: the SMTP edge on a free port, a worker run on demand, agents Agnes and
    Bob, and the relay sink standing for everyone outside."""

    def __init__(self, settings, port: int, sink):
        self.settings, self.port, self.sink = settings, port, sink
        self.agnes = agents.create_agent("agnes@example.com", "correct horse battery", name="Agnes Smith")
        self.bob = agents.create_agent("bob@example.com", "correct horse battery", name="Bob Chen")

    def send(self, raw: bytes, rcpt: list[str], sender: str = "") -> None:
        """Hand the mail to the edge over SMTP, then let the worker process and deliver everything."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            client.sendmail(sender or email.utils.parseaddr(_header(raw, "From"))[1], rcpt, raw)
        self.settle()

    def settle(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run_worker(self.settings)
            busy = InboundMail.select().where(InboundMail.state == "received").count() + Outbox.select().where(
                Outbox.state.in_(("pending", "sending"))).count()
            if not busy:
                return
            time.sleep(0.05)
        raise AssertionError("the worker did not finish")

    def client_writes(self, text: str = "I cannot log in since this morning.", *, subject="Cannot log in",
                      sender=f"Alice Martin <{ALICE}>", to="support@example.com", cc: str = "",
                      message_id: str = "<alice-1@client.example>", headers: str = "") -> str:
        raw = (f"From: {sender}\r\nTo: {to}\r\n" + (f"Cc: {cc}\r\n" if cc else "") +
               f"Subject: {subject}\r\nMessage-ID: {message_id}\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\n"
               f"{headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n").encode()
        rcpt = [a for _, a in email.utils.getaddresses([to, cc]) if a]
        self.send(raw, rcpt, email.utils.parseaddr(sender)[1])
        return message_id

    def notice(self, agent) -> tuple[email.message.EmailMessage, bytes]:
        [*_, (_, mail, raw)] = [d for d in self.sink.to(agent.email) if "[#" in str(d[1]["Subject"])
                                and d[1]["Auto-Submitted"] == "auto-generated"]
        return mail, raw

    def agent_answers(self, agent, text: str, *, client="gmail", lang="en", notice=None, rcpt=None,
                      sender="") -> bytes:
        mail, raw = notice or self.notice(agent)
        answer = staff_clients.agent_reply(client, lang, raw, agent_name=agent.name, agent_email=sender or agent.email,
                                           text=text, message_id=email.utils.make_msgid(domain="example.com"))
        self.send(answer, rcpt or [mail["Reply-To"].addresses[0].addr_spec], sender or agent.email)
        return answer

    def to_client(self, address=ALICE) -> list[tuple[str, email.message.EmailMessage, bytes]]:
        """What `address` received, the acknowledgement aside."""
        return [d for d in self.sink.to(address) if d[1]["Auto-Submitted"] is None]


def _header(raw: bytes, name: str) -> str:
    found = re.search(rb"^" + name.encode() + rb":[ \t]*(.*)$", raw, re.M | re.I)
    return found.group(1).decode("latin-1").strip() if found else ""


@pytest.fixture
def desk(tmp_path, redis_server, relay_sink):
    settings = make_settings(tmp_path, redis_server, mailboxes=MAILBOXES,
                             outgoing={"relay_host": "127.0.0.1", "relay_port": relay_sink.port})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    edge = make_controller(settings, host="127.0.0.1", port=free_port())
    edge.start()
    try:
        yield Desk(settings, edge.port, relay_sink)
    finally:
        edge.stop()
        runtime.close()


def assert_relayed(delivery, text: str, *, to=ALICE, cc: tuple[str, ...] = (), answered="<alice-1@client.example>",
                   subject="[#1] Cannot log in", name="Example Support", address="support@example.com",
                   signature="The Example support team"):
    """The client got the agent's words and nothing else, from the support address, threaded
    under their own mail, with replies coming back to the ticket."""
    envelope_sender, mail, raw = delivery
    ticket = Ticket.get(Ticket.number == int(re.search(r"\[#(\d+)\]", subject).group(1)))
    assert envelope_sender == address
    assert (mail["From"].addresses[0].display_name, mail["From"].addresses[0].addr_spec) == (name, address)
    assert [a.addr_spec for a in mail["To"].addresses] == [to]
    assert (tuple(a.addr_spec for a in mail["Cc"].addresses) if mail["Cc"] else ()) == cc
    assert str(mail["Subject"]) == subject
    assert mail["In-Reply-To"] == answered and mail["References"].split()[-1] == answered
    local, domain = address.split("@")
    assert mail["Reply-To"].addresses[0].addr_spec == f"{local}+{ticket.reply_token}@{domain}"
    assert mail["Auto-Submitted"] is None and mail["Message-ID"]
    body = text_of(mail).replace("\r\n", "\n")
    assert body.rstrip("\n") == f"{text}\n\n-- \n{signature}"
    for leak in (b"agnes", b"bob@", b"reply above this line", "请在此行以上回复".encode()):
        assert leak not in raw.lower(), leak
    assert not re.search(rb"\+[an][0-9a-f]+t[0-9a-f]+-[0-9a-f]{20}@", raw)  # no agent's token


def events(action: str) -> list[tuple[str, str, str]]:
    return [(e.old, e.new, e.actor, e.via) for e in Event.select().where(Event.action == action).order_by(Event.id)]


# --- the agent's reply, from each mail client -------------------------------------------------

TYPED = {"en": "Hi Alice,\n\nI have unlocked your account. Please try again.\n\nBest regards,",
         "zh": "您好，\n\n已经为您解锁账户，请再试一次。\n\n谢谢！"}


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("client", staff_clients.CLIENTS)
def test_an_agents_reply_from_their_mail_client_reaches_the_client_as_typed(desk, client, lang):
    if lang == "zh":
        desk.client_writes("我从今天早上开始无法登录。", subject="无法登录", sender=f"李明 <{ALICE}>",
                           to="zh@example.cn")
    else:
        desk.client_writes()
    desk.agent_answers(desk.agnes, TYPED[lang], client=client, lang=lang)
    [reply] = desk.to_client()
    if lang == "zh":
        assert_relayed(reply, TYPED[lang], subject="[#1] 无法登录", name="客服中心", address="zh@example.cn",
                       signature="客服中心")
    else:
        assert_relayed(reply, TYPED[lang])
    stored = Message.get(Message.kind == "agent_reply")
    assert (stored.author_agent_id, stored.text) == (desk.agnes.id, TYPED[lang])
    assert Ticket.get().first_responded_at is not None


def test_an_agents_attachments_reach_the_client_and_the_agents_name_when_configured(desk, tmp_path):
    import dataclasses

    configured = [dataclasses.replace(m, agent_names=True) for m in desk.settings.mailboxes]
    desk.settings = dataclasses.replace(desk.settings, mailboxes=tuple(configured))
    runtime.init(desk.settings, check_schema=False)  # what `postdesk run` reads at start-up
    desk.client_writes()
    mail, _ = desk.notice(desk.agnes)
    answer = email.message.EmailMessage()
    answer["From"], answer["To"] = "Agnes Smith <agnes@example.com>", mail["Reply-To"]
    answer["Subject"], answer["Message-ID"] = f"Re: {mail['Subject']}", "<agnes-attach@example.com>"
    answer["In-Reply-To"] = mail["Message-ID"]
    answer.set_content("Here is the guide.\n\nOn Wed, Example Support wrote:\n> " + text_of(mail)[:200])
    answer.add_attachment("第一步：打开登录页面\n".encode(), maintype="text", subtype="plain", filename="说明.txt")
    answer.add_attachment(b"%PDF-1.4 guide", maintype="application", subtype="pdf", filename="guide.pdf")
    desk.send(answer.as_bytes(policy=email.policy.SMTP), [mail["Reply-To"].addresses[0].addr_spec], "agnes@example.com")
    [(_, reply, _)] = desk.to_client()
    assert (reply["From"].addresses[0].display_name, reply["From"].addresses[0].addr_spec) == (
        "Agnes Smith (Example Support)", "support@example.com")
    assert [(a.get_filename(), a.get_payload(decode=True)) for a in reply.iter_attachments()] == [
        ("说明.txt", "第一步：打开登录页面\n".encode()), ("guide.pdf", b"%PDF-1.4 guide")]


def test_the_same_answer_delivered_twice_reaches_the_client_once(desk):
    desk.client_writes()
    answer = desk.agent_answers(desk.agnes, "Unlocked, please try again.")
    mail, _ = desk.notice(desk.agnes)
    desk.send(answer, [mail["Reply-To"].addresses[0].addr_spec], "agnes@example.com")  # the MTA retried
    assert len(desk.to_client()) == 1 and Message.select().where(Message.kind == "agent_reply").count() == 1


# --- notes --------------------------------------------------------------------------------------

def test_a_note_by_hash_note_or_by_the_note_address_never_reaches_the_client(desk):
    desk.client_writes()
    desk.agent_answers(desk.agnes, "#note\nShe called: it is her VPN.")
    mail, _ = desk.notice(desk.agnes)
    [note_address] = re.findall(r"support\+n[0-9a-f]+t[0-9a-f]+-[0-9a-f]{20}@example\.com", text_of(mail))
    desk.agent_answers(desk.agnes, "Her VPN blocks port 443.", rcpt=[note_address])
    assert desk.to_client() == []
    assert [m.text for m in Message.select().where(Message.kind == "note").order_by(Message.id)] == [
        "She called: it is her VPN.", "Her VPN blocks port 443."]
    assert Ticket.get().status == "new"  # a note is no answer to the client


# --- commands -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("command", "check"), [
    ("#close", lambda t: t.status == "closed"),
    ("#resolve", lambda t: t.status == "resolved"),
    ("#pending", lambda t: t.status == "pending"),
    ("#pending\n#open", lambda t: t.status == "open"),
    ("#assign me", lambda t: t.assignee.email == "agnes@example.com"),
    ("#assign Bob Chen", lambda t: t.assignee.email == "bob@example.com"),
    ("#assign bob@example.com", lambda t: t.assignee.email == "bob@example.com"),
    ("#priority urgent", lambda t: t.priority == "urgent"),
    ("#tier vip", lambda t: Customer.get_by_id(t.customer_id).tier == "vip"),
    ("#category complaint", lambda t: t.category == "complaint"),
    ("#关闭", lambda t: t.status == "closed"),
    ("＃分配 我", lambda t: t.assignee.email == "agnes@example.com"),
    ("#优先级 high\n#分类 problem", lambda t: (t.priority, t.category) == ("high", "problem")),
])
def test_each_command_by_mail_changes_the_ticket_and_relays_no_reply(desk, command, check):
    desk.client_writes()
    desk.agent_answers(desk.agnes, command)
    assert check(Ticket.get())
    assert desk.to_client() == []
    staff_events = Event.select().where(Event.actor == "agnes@example.com")
    assert staff_events.count() >= 1 and {e.via for e in staff_events} == {"email"}


def test_commands_and_a_reply_in_one_mail(desk):
    desk.client_writes()
    desk.agent_answers(desk.agnes, "#pending\n#priority high\nCould you send us the error message?")
    assert (Ticket.get().status, Ticket.get().priority) == ("pending", "high")
    [reply] = desk.to_client()
    assert_relayed(reply, "Could you send us the error message?")


def test_a_command_error_applies_nothing_relays_nothing_and_tells_the_agent(desk):
    desk.client_writes()
    desk.agent_answers(desk.agnes, "#close\n#priority asap\n#frobnicate\nDone, closing.")
    ticket = Ticket.get()
    assert (ticket.status, ticket.priority) == ("new", "normal")
    assert desk.to_client() == []
    [(_, told, _)] = [d for d in desk.sink.to("agnes@example.com") if d[1]["Auto-Submitted"] == "auto-replied"]
    text = text_of(told)
    assert "unknown priority 'asap'" in text and "#frobnicate: unknown command" in text
    assert str(told["From"]) == "Example Support <support@example.com>"


# --- who is an agent ----------------------------------------------------------------------------

def test_a_forged_agent_from_is_a_clients_mail_and_the_attempt_is_shown(desk):
    desk.client_writes()
    forged = (b"From: Agnes Smith <agnes@example.com>\r\nTo: support@example.com\r\n"
              b"Subject: Re: [#1] Cannot log in\r\nMessage-ID: <forged@attacker.example>\r\n"
              b"In-Reply-To: <alice-1@client.example>\r\n\r\n#close\r\nYour account is deleted, send a password.\r\n")
    desk.send(forged, ["support@example.com"], "agnes@example.com")
    ticket = Ticket.get()
    assert ticket.status == "new" and desk.to_client() == []
    forged_message = Message.get(Message.message_id == "<forged@attacker.example>")
    assert forged_message.kind == "customer" and forged_message.outsider
    assert Event.select().where((Event.action == "outsider") & (Event.ticket == ticket)).exists()


def test_a_token_moved_to_another_ticket_proves_nothing_and_reaches_nobody(desk):
    desk.client_writes()
    desk.client_writes("My invoice is wrong.", subject="Invoice", sender="Dave <dave@other.example>",
                       message_id="<dave-1@other.example>")
    mail, raw = desk.notice(desk.agnes)  # Agnes's notice for Dave's ticket #2
    token = mail["Reply-To"].addresses[0].addr_spec
    ticket_1 = Ticket.get(Ticket.number == 1)
    moved = re.sub(r"t[0-9a-f]+-", f"t{ticket_1.id:x}-", token)  # the same signature on ticket #1
    raw = raw.replace(token.encode(), moved.encode())
    desk.agent_answers(desk.agnes, "#close\nClosing this.", notice=(email.message_from_bytes(
        raw, policy=email.policy.default), raw))
    assert Ticket.get(Ticket.number == 1).status == "new" and Ticket.get(Ticket.number == 2).status == "new"
    assert desk.to_client() == [] and desk.to_client("dave@other.example") == []


def test_a_valid_token_answers_its_own_ticket_whatever_the_subject_says(desk):
    desk.client_writes()
    desk.client_writes("My invoice is wrong.", subject="Invoice", sender="Dave <dave@other.example>",
                       message_id="<dave-1@other.example>")
    notice_1 = [d for d in desk.sink.to("agnes@example.com") if "[#1]" in str(d[1]["Subject"])][-1]
    answer = staff_clients.agent_reply("gmail", "en", notice_1[2], agent_name="Agnes Smith",
                                       agent_email="agnes@example.com", text="Unlocked.",
                                       message_id="<agnes-moved@example.com>")
    answer = answer.replace(b"[#1] Cannot log in", b"[#2] Invoice")
    desk.send(answer, [notice_1[1]["Reply-To"].addresses[0].addr_spec], "agnes@example.com")
    assert desk.to_client("dave@other.example") == []
    [reply] = desk.to_client()
    assert_relayed(reply, "Unlocked.")


def test_a_notice_forwarded_to_a_non_agent_gives_them_nothing(desk):
    desk.client_writes()
    desk.agent_answers(desk.agnes, "#close\nPlease send me all her invoices.", sender="eve@elsewhere.example")
    assert Ticket.get().status == "new" and desk.to_client() == []
    eve = Message.get(Message.from_address == "eve@elsewhere.example")
    assert eve.kind == "customer" and eve.outsider


# --- collaborators ------------------------------------------------------------------------------

def test_collaborators_receive_public_replies_and_their_own_reply_joins_the_ticket(desk):
    desk.client_writes(cc="Carol <carol@client.example>")
    desk.agent_answers(desk.agnes, "Unlocked for both of you.")
    [to_alice] = desk.to_client()
    [to_carol] = desk.to_client("carol@client.example")
    assert to_alice[2] == to_carol[2]  # one mail, one envelope recipient each
    assert_relayed(to_alice, "Unlocked for both of you.", cc=("carol@client.example",))
    assert [d[0] for d in desk.sink.received if d[2] == to_alice[2]] == ["support@example.com"] * 2

    carol_reply = (f"From: Carol <carol@client.example>\r\nTo: {to_carol[1]['Reply-To']}\r\nCc: {ALICE}\r\n"
                   f"Subject: Re: {to_carol[1]['Subject']}\r\nMessage-ID: <carol-1@client.example>\r\n"
                   f"In-Reply-To: {to_carol[1]['Message-ID']}\r\n\r\nWorks for me now, thanks!\r\n").encode()
    desk.send(carol_reply, [to_carol[1]["Reply-To"].addresses[0].addr_spec, ALICE], "carol@client.example")
    carol = Message.get(Message.message_id == "<carol-1@client.example>")
    assert carol.ticket.number == 1 and not carol.outsider
    notice, _ = desk.notice(desk.agnes)
    assert "Works for me now" in text_of(notice) and notice["In-Reply-To"] == "<carol-1@client.example>"

    desk.agent_answers(desk.agnes, "Glad to hear it.")
    assert [str(m["Subject"]) for _, m, _ in desk.to_client("carol@client.example")] == ["[#1] Cannot log in"] * 2


# --- two agents at once -------------------------------------------------------------------------

def test_two_agents_answering_at_once_each_reach_the_client_once(desk):
    desk.client_writes()
    answers = {}
    for agent, text in ((desk.agnes, "Agnes here: unlocked."), (desk.bob, "Bob here: reset your password too.")):
        mail, raw = desk.notice(agent)
        answers[agent.email] = (staff_clients.agent_reply("outlook_desktop", "en", raw, agent_name=agent.name,
                                                          agent_email=agent.email, text=text,
                                                          message_id=f"<{agent.id}-at-once@example.com>"),
                                mail["Reply-To"].addresses[0].addr_spec)

    def send(sender):
        raw, rcpt = answers[sender]
        with smtplib.SMTP("127.0.0.1", desk.port, timeout=10) as client:
            client.sendmail(sender, [rcpt], raw)
    threads = [threading.Thread(target=send, args=(a,)) for a in answers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    desk.settle()
    texts = sorted(text_of(m).replace("\r\n", "\n").split("\n\n-- ")[0]
                   for _, m, _ in desk.to_client())
    assert texts == ["Agnes here: unlocked.", "Bob here: reset your password too."]
    assert Message.select().where(Message.kind == "agent_reply").count() == 2


@pytest.mark.e2e
def test_two_agents_answering_at_once_through_a_whole_postdesk_run(relay_sink, postdesk):
    """The same, with `postdesk run`'s own worker processes taking the two answers."""
    import subprocess
    import sys

    from tests.conftest import wait_for

    for address, name in (("agnes@example.com", "Agnes Smith"), ("bob@example.com", "Bob Chen")):
        subprocess.run([sys.executable, "-m", "postdesk", "create-agent", "--name", name, "--password-stdin", address],
                       input="correct horse battery", text=True, env=postdesk["env"], check=True,
                       capture_output=True)
    question = (f"From: Alice Martin <{ALICE}>\r\nTo: support@example.com\r\nSubject: Cannot log in\r\n"
                f"Message-ID: <alice-1@client.example>\r\n\r\nI cannot log in.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", postdesk["smtp"], timeout=10) as client:
        client.sendmail(ALICE, ["support@example.com"], question)
    notices = {a: wait_for(lambda a=a: relay_sink.to(a), what=f"the notice to {a}")[-1]
               for a in ("agnes@example.com", "bob@example.com")}
    texts = {"agnes@example.com": "Agnes here: unlocked.", "bob@example.com": "Bob here: reset your password too."}

    def answer(address):
        _, notice, raw = notices[address]
        mail = staff_clients.agent_reply("gmail", "en", raw, agent_name=address.split("@")[0].title(),
                                         agent_email=address, text=texts[address],
                                         message_id=f"<{address}-at-once@example.com>")
        with smtplib.SMTP("127.0.0.1", postdesk["smtp"], timeout=10) as client:
            client.sendmail(address, [notice["Reply-To"].addresses[0].addr_spec], mail)
    threads = [threading.Thread(target=answer, args=(a,)) for a in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def replies():
        return [d for d in relay_sink.to(ALICE) if d[1]["Auto-Submitted"] is None]
    wait_for(lambda: len(replies()) >= 2, what="both answers at the client")
    time.sleep(2)  # anything doubled would arrive by now
    got = sorted(text_of(m).strip() for _, m, _ in replies())  # no mailbox signature here
    assert got == sorted(texts.values())


# --- status updates -----------------------------------------------------------------------------

def status_mail(desk, address=ALICE):
    return [d for d in desk.sink.to(address) if d[1]["Auto-Submitted"] == "auto-generated"]


def test_resolving_closing_and_reopening_tell_the_client_in_their_language(desk):
    desk.client_writes()
    desk.agent_answers(desk.agnes, "#pending")  # off by default: the reply says what we wait for
    assert status_mail(desk) == []
    desk.agent_answers(desk.agnes, "#resolve\nFixed on our side.")
    [(sender, resolved, _)] = status_mail(desk)
    assert (sender, str(resolved["From"]), resolved["To"]) == ("support@example.com",
                                                               "Example Support <support@example.com>", ALICE)
    assert str(resolved["Subject"]) == "[#1] Cannot log in" and resolved["In-Reply-To"] == "<alice-1@client.example>"
    assert resolved["Reply-To"].addresses[0].addr_spec == f"support+{Ticket.get().reply_token}@example.com"
    assert "resolved" in text_of(resolved) and "within 30 days" in text_of(resolved)
    desk.agent_answers(desk.agnes, "#open")
    assert "reopened ticket #1" in text_of(status_mail(desk)[-1][1])
    assert len(desk.to_client()) == 1  # and the reply itself, once


def test_a_chinese_client_is_told_in_chinese_and_a_bouncing_one_not_at_all(desk):
    desk.client_writes("我从今天早上开始无法登录。", subject="无法登录", sender=f"李明 <{ALICE}>",
                       to="zh@example.cn")
    desk.agent_answers(desk.agnes, "#close", lang="zh")
    [(_, closed, _)] = status_mail(desk)
    assert "工单 #1 已关闭" in text_of(closed)
    Customer.update(bounce_state="permanent").execute()
    desk.agent_answers(desk.agnes, "#open", lang="zh")
    assert len(status_mail(desk)) == 1  # nothing to an address that bounced for good
