"""A seeded generator of realistic support mail, in rounds, with ground truth for threading.

Round 1 holds new questions (English and Chinese in GB2312/GBK/GB18030/Big5/UTF-8, plain and HTML,
with attachments), out-of-office answers, and reply-alls / follow-ups that reference the client's
own first mail. Later rounds are what clients send after reading our acknowledgement: replies with
full headers, replies whose client dropped the headers (tag only), replies that kept only the
reply-token address, HTML replies with quoted history, and mail that carries nothing usable.

The harder corpus (`Generator(harder=True)`) adds what a first benchmark missed (issue 13):
conversations in which an early reply carries no evidence at all (no headers, no tag, no token,
so it opens a ticket of its own) and the later replies carry both References, whose newest entry
is that stray mail, and the right [#N] tag; colleagues of the customer (same organisation domain,
not copied on the question) replying with the tag and the customer in Cc; strangers copying the
customer with the tag (who must not reach the ticket); and out-of-office answers to mail we never
saw (which must open no ticket). A colleague is only trusted for a customer known to belong to an
organisation: `organisations` lists the customers as an operator's `postdesk customers import`
file would. The standard corpus is unchanged by the flag (the harder mail draws from its own
random stream).

Every mail knows its thread and whether a correct pipeline must thread it ("expect": the rule
that must find its ticket, or "new").
"""

from __future__ import annotations

import base64
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

EN_SUBJECTS = ["Cannot log in", "Invoice is wrong", "VPN drops every hour", "Export to CSV fails",
               "Password reset mail never arrives", "App crashes on start", "Refund request",
               "Two-factor code rejected", "Printer not found", "Slow dashboard"]
ZH_SUBJECTS = ["无法登录", "发票金额不对", "订单还没有发货", "退款申请", "验证码收不到", "系统很慢",
               "打印机连不上", "导出报表失败", "账号被锁定", "合同续签问题"]
TW_SUBJECTS = ["帳號無法登入", "發票金額錯誤", "訂單尚未出貨", "退款申請"]
EN_LINES = ["Since this morning it does not work any more.", "I tried twice, same result.",
            "Could you please have a look?", "This blocks our whole team.", "Thanks in advance."]
ZH_LINES = ["从今天早上开始就不能用了。", "我试了两次，结果一样。", "麻烦帮忙看一下。",
            "这影响了我们整个团队。", "先谢谢了。"]
TW_LINES = ["從今天早上開始就不能用了。", "麻煩幫忙看一下。", "先謝謝了。"]
ZH_CHARSETS = ["gb2312", "gbk", "gb18030", "utf-8"]
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" * 40


@dataclass
class Mail:
    raw: bytes
    thread: int
    message_id: str
    expect: str  # the rule that must thread it: header / subject_tag / token / new
    kind: str

    def __post_init__(self):
        # On the wire every line ends in CRLF (RFC 5321 §2.3.8); base64.encodebytes gives bare LF.
        self.raw = re.sub(rb"(?<!\r)\n", b"\r\n", self.raw)


@dataclass
class Thread:
    number: int
    language: str
    customer: str
    name: str
    colleague: str
    subject: str
    question_id: str
    last_id: str = ""
    stray_id: str = ""  # harder corpus: the reply that carried no evidence and went to a ticket of its own


def customer_address(n: int) -> str:
    return f"client{n}@customer{n % 97}.example"


def organisations(threads: int) -> list[tuple[str, str, str]]:
    """(email, name, organisation) of every thread's customer: what an operator imports from
    their customer list, so the colleague rule knows each customer belongs to an organisation."""
    return [(customer_address(n), "", f"Customer {n % 97} Ltd") for n in range(threads)]


class Generator:
    def __init__(self, seed: int = 20261124, domain: str = "example.com", harder: bool = False):
        self.rng = random.Random(seed)
        self.hard = random.Random(seed + 1) if harder else None  # the harder corpus's own choices
        self.domain = domain
        self.clock = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        self.serial = 0
        self.threads: list[Thread] = []
        self.reply_rounds = 0

    def _id(self, who: str) -> str:
        self.serial += 1
        return f"<bench-{self.serial}-{self.rng.getrandbits(32):08x}@{who.split('@')[1]}>"

    def _date(self) -> str:
        self.clock += timedelta(seconds=self.rng.randint(20, 400))
        return format_datetime(self.clock)

    def first_round(self, threads: int) -> list[Mail]:
        mails = []
        for n in range(threads):
            language = self.rng.choices(["en", "zh", "tw"], weights=[5, 4, 1])[0]
            customer = customer_address(n)
            name = {"en": f"Client {n}", "zh": f"客户{n}", "tw": f"客戶{n}"}[language]
            subject = self.rng.choice({"en": EN_SUBJECTS, "zh": ZH_SUBJECTS, "tw": TW_SUBJECTS}[language])
            thread = Thread(n, language, customer, name, f"colleague{n}@customer{n % 97}.example",
                            f"{subject} ({n})", "")
            self.threads.append(thread)
            mails.append(self._question(thread))
            roll = self.rng.random()
            if roll < 0.15:
                mails.append(self._reply_all_from_colleague(thread))
            elif roll < 0.25:
                mails.append(self._follow_up_to_own_mail(thread))
            if self.rng.random() < 0.06:
                mails.append(self._out_of_office())
        return mails

    def reply_round(self, acks: dict[int, tuple[str, str, str]]) -> list[Mail]:
        """Replies to acknowledgements: acks maps thread → (ack Message-ID, ticket number, token address)."""
        self.reply_rounds += 1
        mails = []
        for thread in self.threads:
            if thread.number not in acks:
                continue
            ack_id, number, token_address = acks[thread.number]
            if self.hard is not None and thread.stray_id:
                # The conversation goes on after the stray mail: References name it, the tag is right.
                mails += [self._reply_with_references_and_tag(thread, number) for _ in range(2)]
                continue
            if self.hard is not None and self.reply_rounds == 1 and self.hard.random() < 0.12:
                mails.append(self._reply_without_evidence(thread))
                continue
            style = self.rng.choices(["headers", "tag_only", "token_only", "html_headers", "nothing"],
                                     weights=[50, 20, 15, 12, 3])[0]
            mails.append(self._reply(thread, style, ack_id, number, token_address))
            if self.hard is not None:
                mails += self._harder_extras(thread, number)
        return mails

    def _harder_extras(self, thread: Thread, number: str) -> list[Mail]:
        """Besides the client's reply: a colleague with the tag, a stranger with the tag, an
        out-of-office answering something we never saw."""
        extras = []
        if self.hard.random() < 0.10:
            extras.append(self._tagged_with_customer_in_cc(thread, number, thread.colleague.replace(
                "colleague", "teammate"), "colleague_tag", "subject_tag"))
        if self.hard.random() < 0.04:
            extras.append(self._tagged_with_customer_in_cc(thread, number, f"someone{self.serial}@elsewhere.example",
                                                           "stranger_tag", "new"))
        if self.hard.random() < 0.05:
            extras.append(self._unthreadable_auto_reply())
        return extras

    def _body(self, thread: Thread, lines: int = 3) -> str:
        pool = {"en": EN_LINES, "zh": ZH_LINES, "tw": TW_LINES}[thread.language]
        return "\n".join(self.rng.choice(pool) for _ in range(lines))

    def _encode(self, thread: Thread, text: str) -> tuple[str, bytes, str]:
        charset = {"en": "utf-8", "zh": self.rng.choice(ZH_CHARSETS), "tw": "big5"}[thread.language]
        data = text.encode(charset)
        if self.rng.random() < 0.5:
            return charset, base64.encodebytes(data), "base64"
        return charset, data, "8bit"

    def _header_words(self, text: str, charset: str) -> str:
        if text.isascii():
            return text
        return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="

    def _head(self, sender: str, sender_name: str, subject: str, message_id: str, charset: str,
              extra: list[str] = (), to: str | None = None) -> list[str]:
        return [f"From: {self._header_words(sender_name, charset)} <{sender}>",
                f"To: {to or 'support@' + self.domain}", f"Subject: {self._header_words(subject, charset)}",
                f"Date: {self._date()}", f"Message-ID: {message_id}", "MIME-Version: 1.0", *extra]

    def _question(self, thread: Thread) -> Mail:
        message_id = self._id(thread.customer)
        thread.question_id = thread.last_id = message_id
        text = self._body(thread, self.rng.randint(2, 5))
        charset, payload, cte = self._encode(thread, text)
        extra = [f"Cc: {thread.colleague}"] if self.rng.random() < 0.3 else []
        head = self._head(thread.customer, thread.name, thread.subject, message_id, charset, extra)
        kind = self.rng.choices(["plain", "html", "attachment"], weights=[6, 3, 1])[0]
        if kind == "plain":
            body = [f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}", ""]
            raw = _join(head + body) + payload
        else:
            boundary = f"b{self.rng.getrandbits(40):x}"
            html = "<html><body>" + "".join(f"<p>{line}</p>" for line in text.split("\n")) + "</body></html>"
            h_charset, h_payload, h_cte = charset, base64.encodebytes(html.encode(charset)), "base64"
            parts = [f"--{boundary}", f"Content-Type: text/plain; charset={charset}",
                     f"Content-Transfer-Encoding: {cte}", ""]
            subtype = "alternative" if kind == "html" else "mixed"
            content_type = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
            raw = _join(head + [content_type, ""] + parts) + payload
            raw += _join(["", f"--{boundary}", f"Content-Type: text/html; charset={h_charset}",
                          f"Content-Transfer-Encoding: {h_cte}", ""]) + h_payload
            if kind == "attachment":
                raw += _join(["", f"--{boundary}", "Content-Type: application/pdf",
                              'Content-Disposition: attachment; filename="report.pdf"',
                              "Content-Transfer-Encoding: base64", ""]) + base64.encodebytes(PDF)
            raw += _join(["", f"--{boundary}--", ""])
        return Mail(raw, thread.number, message_id, "new", f"question_{kind}")

    def _reply_all_from_colleague(self, thread: Thread) -> Mail:
        message_id = self._id(thread.colleague)
        charset, payload, cte = self._encode(thread, self._body(thread, 1))
        head = self._head(thread.colleague, "Colleague", f"Re: {thread.subject}", message_id, charset,
                          [f"In-Reply-To: {thread.question_id}", f"References: {thread.question_id}",
                           f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}"],
                          to=f"{thread.customer}, support@{self.domain}")
        return Mail(_join(head + [""]) + payload, thread.number, message_id, "header", "reply_all")

    def _follow_up_to_own_mail(self, thread: Thread) -> Mail:
        message_id = self._id(thread.customer)
        charset, payload, cte = self._encode(thread, self._body(thread, 1))
        head = self._head(thread.customer, thread.name, f"Re: {thread.subject}", message_id, charset,
                          [f"In-Reply-To: {thread.question_id}", f"References: {thread.question_id}",
                           f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}"])
        thread.last_id = message_id
        return Mail(_join(head + [""]) + payload, thread.number, message_id, "header", "own_follow_up")

    def _out_of_office(self) -> Mail:
        who = f"away{self.serial}@partner.example"
        message_id = self._id(who)
        head = self._head(who, "Away", "Automatic reply: out of office", message_id, "utf-8",
                          ["Auto-Submitted: auto-replied", "Content-Type: text/plain; charset=utf-8"])
        return Mail(_join(head + ["", "I am out of the office until Monday."]), -1, message_id, "new", "auto_reply")

    def _reply_without_evidence(self, thread: Thread) -> Mail:
        """The client writes again from scratch: no In-Reply-To, no References, no tag, the plain
        address. Nothing can tie it to the ticket, so it opens one of its own."""
        message_id = self._id(thread.customer)
        charset, payload, cte = self._encode(thread, self._body(thread, 2))
        head = self._head(thread.customer, thread.name, thread.subject, message_id, charset,
                          [f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}"])
        thread.last_id = thread.stray_id = message_id
        return Mail(_join(head + [""]) + payload, thread.number, message_id, "new", "reply_no_evidence")

    def _reply_with_references_and_tag(self, thread: Thread, number: str) -> Mail:
        """A later reply whose client kept References (newest: the stray mail, or a reply after it)
        and the tag, but no In-Reply-To: the tag names the ticket, References a wrong one."""
        message_id = self._id(thread.customer)
        charset, payload, cte = self._encode(thread, self._body(thread, 2))
        references = list(dict.fromkeys([thread.question_id, thread.stray_id, thread.last_id]))
        head = self._head(thread.customer, thread.name, f"Re: [#{number}] {thread.subject}", message_id, charset,
                          [f"References: {' '.join(references)}", f"Content-Type: text/plain; charset={charset}",
                           f"Content-Transfer-Encoding: {cte}"])
        thread.last_id = message_id
        return Mail(_join(head + [""]) + payload, thread.number, message_id, "subject_tag", "reply_references_and_tag")

    def _tagged_with_customer_in_cc(self, thread: Thread, number: str, sender: str, kind: str, expect: str) -> Mail:
        """Someone other than the client writes with the ticket's tag and the client in Cc, no
        headers: a colleague at the client's organisation joins, a stranger does not."""
        message_id = self._id(sender)
        charset, payload, cte = self._encode(thread, self._body(thread, 1))
        head = self._head(sender, "Someone", f"Re: [#{number}] {thread.subject}", message_id, charset,
                          [f"Cc: {thread.name if thread.name.isascii() else 'Client'} <{thread.customer}>",
                           f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}"])
        return Mail(_join(head + [""]) + payload, thread.number, message_id, expect, kind)

    def _unthreadable_auto_reply(self) -> Mail:
        """An out-of-office answering mail we never saw (a newsletter, a colleague's invitation):
        English with Auto-Submitted, or Chinese with only a vendor header and subject."""
        who = f"away{self.serial}@partner{self.serial % 7}.example"
        message_id = self._id(who)
        unknown = f"<news-{self.serial}@lists.partner.example>"
        if self.hard.random() < 0.5:
            head = self._head(who, "Away", "Automatic reply: Re: Quarterly newsletter", message_id, "utf-8",
                              ["Auto-Submitted: auto-replied", f"In-Reply-To: {unknown}", f"References: {unknown}",
                               "Content-Type: text/plain; charset=utf-8"])
            return Mail(_join(head + ["", "I am away until 14 December."]), -1, message_id, "new", "auto_reply")
        head = self._head(who, "外出", "自动回复: 会议邀请", message_id, "gbk",
                          ["X-Autoreply: yes", f"In-Reply-To: {unknown}", "Content-Type: text/plain; charset=gbk",
                           "Content-Transfer-Encoding: base64"])
        return Mail(_join(head + [""]) + base64.encodebytes("我正在休假，下周一回来。".encode("gbk")), -1, message_id,
                    "new", "auto_reply")

    def _reply(self, thread: Thread, style: str, ack_id: str, number: str, token_address: str) -> Mail:
        message_id = self._id(thread.customer)
        new_text = self._body(thread, 2)
        quoted = "\n".join("> " + line for line in ["Thank you for writing to us.", f"Ticket #{number}"])
        text = f"{new_text}\n\nOn Mon, 2 Nov 2026 at 09:00, Support <support@{self.domain}> wrote:\n{quoted}\n"
        charset, payload, cte = self._encode(thread, text)
        subject, extra, to, expect = f"Re: [#{number}] {thread.subject}", [], None, "header"
        if style in ("headers", "html_headers"):
            extra = [f"In-Reply-To: {ack_id}", f"References: {thread.last_id} {ack_id}"]
        elif style == "tag_only":
            expect = "subject_tag"
        elif style == "token_only":
            subject, to, expect = f"Update on {thread.subject}", token_address, "token"
        else:  # nothing usable: a new subject, no headers, the plain address
            subject, expect = f"Another question ({thread.number})", "new"
        if style == "html_headers":
            html = (f"<div>{new_text.replace(chr(10), '<br>')}</div><div class=\"gmail_quote\">"
                    f"<blockquote class=\"gmail_quote\">Thank you for writing to us.</blockquote></div>")
            extra += [f"Content-Type: text/html; charset={charset}", "Content-Transfer-Encoding: base64"]
            body = base64.encodebytes(html.encode(charset))
        else:
            extra += [f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}"]
            body = payload
        head = self._head(thread.customer, thread.name, subject, message_id, charset, extra, to=to)
        thread.last_id = message_id
        return Mail(_join(head + [""]) + body, thread.number, message_id, expect, f"reply_{style}")


def _join(lines: list[str]) -> bytes:
    return "\r\n".join(lines).encode("ascii") + b"\r\n"
