"""An agent's answer to a staff notice, byte for byte as six real mail clients write it.

`agent_reply(client, lang, notice, ...)` returns the raw mail (CRLF line endings) that the agent's
client sends when they answer a notice: their typed text, their signature where that client puts it,
and the client's quote of the notice (its quote header in that language, then the notice's text),
in the charsets, transfer encodings, MIME layout and header styles the client uses.

The shapes follow real mail these clients sent (public mailing-list archives and reply-parser
fixtures); each builder's docstring says what it reproduces. Nothing here is random or reads the
clock: boundaries, ids and the reply's Date derive from `message_id` and the notice, so a test
gets the same bytes every run.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["CLIENTS", "SIGNATURES", "agent_reply"]

CLIENTS = ("outlook_desktop", "outlook_desktop_plain", "outlook_web", "gmail", "apple_mail", "foxmail", "qq_mail")
LANGUAGES = ("en", "zh")

# The agent's signature: their name (`agent_name`), then these lines.
SIGNATURES = {
    "en": "Support Engineer | Example Corp\n+1 555 0100",
    "zh": "技术支持工程师 | 示例科技\n电话：+86 10 5555 0100",
}

CRLF = "\r\n"
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")
WEEKDAYS_ZH = "一二三四五六日"
NNBSP = "\u202f"  # ICU 72+ (macOS 13+, Gmail) writes "3:00\u202fPM"


def agent_reply(client: str, lang: str, notice: bytes, *, agent_name: str, agent_email: str,
                text: str, message_id: str) -> bytes:
    """The raw RFC 5322 bytes (CRLF line endings) of the agent's answer to `notice` (the raw bytes of the
    notice mail the helpdesk sent them), written by `client` in `lang`. `text` is what the agent typed
    (may be several lines, may be Chinese, may begin with lines like '#pending' or '#note'); the mail
    carries, as that client really would: the typed text, then the agent's signature block (their
    name, then the lines of SIGNATURES[lang]) as that client inserts it, then the client's quote of
    the notice (its quote header line/block in that language, then the notice's text). Gmail puts
    the signature after the quote instead, as Gmail does by default, behind a "-- " line."""
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; one of {CLIENTS}")
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; one of {LANGUAGES}")
    message_id = message_id.strip()
    reply = Reply(
        notice=read_notice(notice),
        lang=lang,
        agent=(agent_name, agent_email),
        typed=text.replace("\r\n", "\n").rstrip("\n").split("\n"),
        signature=[agent_name, *SIGNATURES[lang].split("\n")],
        message_id=message_id if message_id.startswith("<") else f"<{message_id}>",
    )
    return BUILDERS[client](reply).encode("ascii")


# --- the notice and the reply being written ---------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    sender: tuple[str, str]    # From (name, address): what quote headers show
    reply_to: tuple[str, str]  # Reply-To: where the answer goes
    to: tuple[str, str]        # the agent, as the notice addressed them
    subject: str
    date: datetime
    message_id: str
    references: tuple[str, ...]
    lines: tuple[str, ...]     # the notice's text, line by line


def read_notice(raw: bytes) -> Notice:
    msg = email.message_from_bytes(raw, policy=email.policy.default)

    def mailbox(field: str, fallback: str = "") -> tuple[str, str]:
        header = msg[field] or msg[fallback]
        address = header.addresses[0]
        return address.display_name, address.addr_spec

    date = msg["Date"].datetime
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n")
    return Notice(
        sender=mailbox("From"),
        reply_to=mailbox("Reply-To", "From"),
        to=mailbox("To"),
        subject=str(msg["Subject"] or ""),
        date=date if date.tzinfo else date.replace(tzinfo=UTC),
        message_id=str(msg["Message-ID"]).strip(),
        references=tuple(str(msg["References"] or "").split()),
        lines=tuple(text.split("\n")),
    )


@dataclass(frozen=True)
class Reply:
    notice: Notice
    lang: str
    agent: tuple[str, str]
    typed: list[str]
    signature: list[str]
    message_id: str

    @property
    def zh(self) -> bool:
        return self.lang == "zh"

    @property
    def date(self) -> datetime:
        """When the agent sent it: a few minutes after the notice, in the notice's time zone."""
        return self.notice.date + timedelta(minutes=7, seconds=13)

    @property
    def references(self) -> list[str]:
        return list(dict.fromkeys([*self.notice.references, self.notice.message_id]))

    def token(self, size: int, salt: str = "") -> bytes:
        """Deterministic bytes for ids and boundaries, derived from the reply's Message-ID."""
        return hashlib.sha256(f"{salt}:{self.message_id}".encode()).digest()[:size]

    def texts(self) -> list[str]:
        """Everything the mail writes in its body's charset, to choose a charset that can write it."""
        return [*self.typed, *self.signature, *self.notice.lines, self.notice.subject, self.agent[0],
                self.notice.sender[0], self.notice.to[0], self.notice.reply_to[0]]


# --- text helpers ---------------------------------------------------------------------------------

def wrap(line: str, width: int = 76, *, after: str = "") -> list[str]:
    """Greedy hard wrap as the clients' HTML-to-text converters do: break at a space (dropped) or
    after a character of `after` (kept); a run with no break opportunity stays whole."""
    out = []
    while len(line) > width:
        for cut in range(width, 0, -1):
            if line[cut] == " ":
                out.append(line[:cut])
                line = line[cut + 1:]
                break
            if line[cut - 1] in after:
                out.append(line[:cut])
                line = line[cut:]
                break
        else:
            break
    return [*out, line]


def esc(text: str, *, quot: bool = False, apos: bool = False) -> str:
    """HTML-escape typed or quoted text; runs of spaces become &nbsp; as editors write them."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quot:
        text = text.replace('"', "&quot;")
    if apos:
        text = text.replace("'", "&#39;")
    text = re.sub(r"^ +", lambda m: "&nbsp;" * len(m.group()), text)
    return re.sub(r" {2,}", lambda m: "&nbsp;" * (len(m.group()) - 1) + " ", text)


LINK = re.compile(r"(https?://[^\s<>\"]+?)(?=&gt;|&quot;|[.,;:!?)]?(?:\s|$))|([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


def linkify(escaped: str, *, url_attrs: str = "", mail_attrs: str | None = None, url_break: str = "") -> str:
    """Turn URLs (and, with `mail_attrs`, addresses) in escaped text into links, as webmail does."""
    def link(m: re.Match) -> str:
        if m.group(1):
            return f'<a href="{m.group(1)}"{url_attrs}>{url_break}{m.group(1)}</a>'
        if mail_attrs is None:
            return m.group(2)
        return f'<a href="mailto:{m.group(2)}"{mail_attrs}>{m.group(2)}</a>'
    return LINK.sub(link, escaped)


def named(mailbox: tuple[str, str]) -> str:
    name, address = mailbox
    return f"{name} <{address}>" if name else address


def dates(dt: datetime) -> dict[str, str]:
    """The notice's date as each client writes it in its quote header."""
    hour12 = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    zh_day = f"{dt.year}年{dt.month}月{dt.day}日"
    period = ("凌晨" if dt.hour < 6 else "早上" if dt.hour < 9 else "上午" if dt.hour < 12 else "中午"
              if dt.hour < 13 else "下午" if dt.hour < 19 else "晚上")
    return {
        "outlook_en": f"{WEEKDAYS_EN[dt.weekday()]}, {MONTHS_EN[dt.month - 1]} {dt.day}, {dt.year} "
                      f"{hour12}:{dt.minute:02d} {ampm}",
        "outlook_zh": f"{zh_day} {dt.hour}:{dt.minute:02d}",
        "gmail_en": f"{WEEKDAYS_EN[dt.weekday()][:3]}, {MONTHS_EN[dt.month - 1][:3]} {dt.day}, {dt.year} "
                    f"at {hour12}:{dt.minute:02d}{NNBSP}{ampm}",
        "gmail_zh": f"{zh_day}周{WEEKDAYS_ZH[dt.weekday()]} {'上午' if dt.hour < 12 else '下午'}"
                    f"{hour12}:{dt.minute:02d}",
        "apple_en": f"{MONTHS_EN[dt.month - 1][:3]} {dt.day}, {dt.year}, at {hour12}:{dt.minute:02d}{NNBSP}{ampm}",
        "apple_zh": f"{zh_day} {dt.hour:02d}:{dt.minute:02d}",
        "foxmail": f"{dt:%Y-%m-%d %H:%M}",
        "qq_en": f"{WEEKDAYS_EN[dt.weekday()][:3]}, {MONTHS_EN[dt.month - 1][:3]} {dt.day}, {dt.year} "
                 f"{hour12:02d}:{dt.minute:02d} {ampm}",
        "qq_zh": f"{zh_day}(星期{WEEKDAYS_ZH[dt.weekday()]}) {period}{hour12}:{dt.minute:02d}",
    }


def rfc2822(dt: datetime) -> str:
    """A Date header as clients write it: day of month without a leading zero."""
    offset = dt.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return (f"{WEEKDAYS_EN[dt.weekday()][:3]}, {dt.day} {MONTHS_EN[dt.month - 1][:3]} {dt.year} "
            f"{dt:%H:%M:%S} {sign}{minutes // 60:02d}{minutes % 60:02d}")


# --- charsets and transfer encodings --------------------------------------------------------------

@dataclass(frozen=True)
class Charset:
    label: str  # what the client declares
    codec: str  # what it really writes: Outlook and Foxmail say gb2312 and write GBK

    def fits(self, texts: list[str]) -> bool:
        try:
            "".join(texts).encode(self.codec)
        except UnicodeEncodeError:
            return False
        return True

    def encode(self, text: str) -> bytes:
        return text.encode(self.codec)


UTF8 = Charset("utf-8", "utf-8")


def ascii_or_utf8(texts: list[str]) -> Charset:
    """Microsoft's choice for Western text: us-ascii when it fits, else UTF-8."""
    return Charset("us-ascii", "ascii") if all(t.isascii() for t in texts) else UTF8


def gb2312_or(utf8: Charset, texts: list[str], label: str = "gb2312") -> Charset:
    """A Chinese Windows client's choice: gb2312 (GBK bytes) when the text fits, else UTF-8, as
    Outlook's and Foxmail's automatic encoding do."""
    gbk = Charset(label, "gbk")
    return gbk if gbk.fits(texts) else utf8


def encoded_words(text: str, charset: Charset, label: str | None = None, limit: int = 75) -> list[str]:
    """RFC 2047 B-encoded words of `text`, each at most `limit` characters, no character split."""
    label = label or charset.label

    def word(chunk: str) -> str:
        return f"=?{label}?B?{base64.b64encode(charset.encode(chunk)).decode()}?="

    words, chunk = [], ""
    for char in text:
        if chunk and len(word(chunk + char)) > limit:
            words.append(word(chunk))
            chunk = ""
        chunk += char
    return [*words, word(chunk)] if chunk else words


def header_text(text: str, charset: Charset, label: str | None = None, *, tail: bool = False) -> str:
    """A header value: raw when ASCII, else encoded words folded onto continuation lines. `tail`
    keeps the leading ASCII words raw and encodes from the first non-ASCII word on (Gmail)."""
    if text.isascii():
        return text
    head = ""
    if tail:
        words = text.split(" ")
        first = next(i for i, w in enumerate(words) if not w.isascii())
        head = "".join(w + " " for w in words[:first])
        text = " ".join(words[first:])
    return head + (CRLF + " ").join(encoded_words(text, charset, label))


def mailbox_header(mailbox: tuple[str, str], charset: Charset, label: str | None = None, *,
                   quote: bool = False, encode_all: bool = False) -> str:
    """`Name <addr>`; `"Name" <addr>` with `quote`; a non-ASCII name as encoded words. QQ Mail puts
    the encoded words of every name, ASCII or not, inside quotes (`encode_all`)."""
    name, address = mailbox
    if not name:
        return f"<{address}>" if quote else address
    if encode_all:
        return f'"{encoded_words(name, charset, label, limit=500)[0]}" <{address}>'
    if not name.isascii():
        return f"{' '.join(encoded_words(name, charset, label))} <{address}>"
    needs_quotes = quote or re.search(r"[()<>\[\]:;@\\,.\"]", name)
    return f'"{name}" <{address}>' if needs_quotes else f"{name} <{address}>"


def quoted_printable(data: bytes, *, break_at_space: bool = False, newlines_as_text: bool = False) -> str:
    """Quoted-printable (RFC 2045 §6.7) with 76-character lines. `break_at_space` puts the soft
    breaks after a space where one is near (Apple Mail, Outlook); `newlines_as_text` writes the
    text's line feeds as =0A inside the stream (Foxmail's HTML)."""
    lines = [data] if newlines_as_text else data.replace(b"\r\n", b"\n").split(b"\n")
    out = []
    for line in lines:
        tokens = []
        for i, byte in enumerate(line):
            last = i == len(line) - 1
            if (33 <= byte <= 126 and byte != 61) or (byte in (9, 32) and not last):
                tokens.append(chr(byte))
            else:
                tokens.append(f"={byte:02X}")
        current, space_at = "", -1
        for token in tokens:
            if len(current) + len(token) > 75:
                if break_at_space and space_at > 40:
                    out.append(current[:space_at + 1] + "=")
                    current = current[space_at + 1:]
                else:
                    out.append(current + "=")
                    current = ""
                space_at = -1
            current += token
            if token == " ":
                space_at = len(current) - 1
        out.append(current)
    return CRLF.join(out)


def base64_lines(data: bytes, width: int = 76) -> str:
    encoded = base64.b64encode(data).decode()
    return CRLF.join(encoded[i:i + width] for i in range(0, len(encoded), width))


def part(content_type: str, cte: str, body: str, *, cte_first: bool = False) -> str:
    """One MIME body part: its headers (in the client's order), a blank line, the encoded body."""
    headers = [f"Content-Transfer-Encoding: {cte}", content_type]
    return CRLF.join(headers if cte_first else headers[::-1]) + CRLF + CRLF + body


def multipart(headers: list[str], boundary: str, parts: list[str], *, preamble: str = "",
              close: str = CRLF) -> str:
    """A whole message: headers, blank line, preamble, the parts between boundaries."""
    lines = CRLF.join(headers) + CRLF + CRLF + preamble
    for body in parts:
        lines += f"--{boundary}{CRLF}{body}{CRLF}"
    return lines + f"--{boundary}--{close}"


def body_encoding(text: str, charset: Charset) -> tuple[str, str]:
    """Gmail's choice for a text part: quoted-printable unless base64 is shorter."""
    data = charset.encode(text)
    qp, b64 = quoted_printable(data), base64_lines(data)
    return ("quoted-printable", qp) if len(qp) <= len(b64) else ("base64", b64)


# --- Outlook desktop (Windows, Microsoft 365 / Outlook 2016+) -------------------------------------

OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" \
xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" \
xmlns="http://www.w3.org/TR/REC-html40"><head><meta http-equiv=Content-Type content="text/html; charset={charset}">\
<meta name=Generator content="Microsoft Word 15 (filtered medium)"><style><!--
/* Font Definitions */
@font-face
	{{font-family:"Cambria Math";
	panose-1:2 4 5 3 5 4 6 3 2 4;}}
@font-face
	{{font-family:{font};
	panose-1:{panose};}}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{{margin:0cm;{justify}
	font-size:{size};
	font-family:{font};}}
a:link, span.MsoHyperlink
	{{mso-style-priority:99;
	color:#0563C1;
	text-decoration:underline;}}
p.MsoPlainText, li.MsoPlainText, div.MsoPlainText
	{{mso-style-priority:99;
	mso-style-link:"{plain_style}";
	margin:0cm;
	font-size:{size};
	font-family:{font};}}
span.EmailStyle20
	{{mso-style-type:personal-reply;
	font-family:{font};
	color:windowtext;}}
.MsoChpDefault
	{{mso-style-type:export-only;
	font-size:10.0pt;}}
/* Page Definitions */
@page WordSection1
	{{size:612.0pt 792.0pt;
	margin:72.0pt 90.0pt 72.0pt 90.0pt;}}
div.WordSection1
	{{page:WordSection1;}}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]--></head>"""


def windows_filetime(dt: datetime) -> int:
    return int((dt.timestamp() + 11644473600) * 10_000_000)


def thread_index(r: Reply) -> str:
    """Outlook's and Exchange's Thread-Index for a new conversation: 6 bytes of the FILETIME, a GUID."""
    return base64.b64encode(struct.pack(">Q", windows_filetime(r.date))[:6] + r.token(16, "thread")).decode()


def outlook_paragraph(paragraph: str) -> str:
    """One Word paragraph in Outlook's text part: its lines wrapped at 76, then a blank line; an
    empty paragraph (&nbsp;) as a single space."""
    if not paragraph:
        return " " + CRLF + CRLF
    return CRLF.join(line for sub in paragraph.split("\n") for line in wrap(sub)) + CRLF + CRLF


def outlook_headers(r: Reply, charset: Charset, content_type: str) -> list[str]:
    """Outlook 16's header block: "RE: " (zh "答复: "), Thread-Index, Content-Language."""
    n, zh = r.notice, r.zh
    return [
        f"From: {mailbox_header(r.agent, charset, quote=True)}",
        f"To: {mailbox_header(n.reply_to, charset, quote=True)}",
        f"References: {' '.join(r.references)}",
        f"In-Reply-To: {n.message_id}",
        f"Subject: {header_text(('答复: ' if zh else 'RE: ') + n.subject, charset)}",
        f"Date: {rfc2822(r.date)}",
        f"Message-ID: {r.message_id}",
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
        "X-Mailer: Microsoft Outlook 16.0",
        f"Thread-Index: {thread_index(r)}",
        f"Content-Language: {'zh-cn' if zh else 'en-us'}",
    ]


def outlook_desktop(r: Reply) -> str:
    """Outlook 16 on Windows answering in HTML: multipart/alternative of a Word-generated HTML part
    (WordSection1, MsoNormal paragraphs, the signature behind the _MailAutoSig bookmark, the
    From/Sent/To/Subject block under a #E1E1E1 rule, the notice as MsoPlainText paragraphs) and the
    text Outlook derives from it: every paragraph followed by a blank line, empty ones as a single
    space, hard-wrapped at 76 columns. Chinese: gb2312 label (GBK bytes), "答复: ", 发件人/发送时间/
    收件人/主题. Subject and names in RFC 2047 B words of the body's charset. "RE: " in English."""
    n, zh = r.notice, r.zh
    charset = gb2312_or(UTF8, r.texts()) if zh else ascii_or_utf8(r.texts())
    labels = ("发件人", "发送时间", "收件人", "主题") if zh else ("From", "Sent", "To", "Subject")
    values = (named(n.sender) + " ", dates(n.date)["outlook_zh" if zh else "outlook_en"], named(n.to), n.subject)

    paragraphs = [*r.typed, "", *r.signature, "", "\n".join(f"{k}: {v}" for k, v in zip(labels, values, strict=True)),
                  "", *n.lines]
    text = "".join(outlook_paragraph(p) for p in paragraphs)

    def para(content: str, cls: str = "MsoNormal") -> str:
        return f"<p class={cls}>{content}<o:p></o:p></p>" if content else f"<p class={cls}><o:p>&nbsp;</o:p></p>"

    signature = [f'<p class=MsoNormal><a name="_MailAutoSig">{esc(r.signature[0])}<o:p></o:p></a></p>']
    signature += [f"<p class=MsoNormal><span style='mso-bookmark:_MailAutoSig'>{esc(line)}<o:p></o:p></span></p>"
                  for line in r.signature[1:]]
    block = "<br>".join(f"<b>{k}:</b> {esc(v)}" for k, v in zip(labels, values, strict=True))
    font, panose = ("等线", "2 1 6 0 3 1 1 1 1 1") if zh else ("Aptos", "2 11 0 4 2 2 2 2 2 4")
    head = OUTLOOK_HEAD.format(charset=charset.label, font=font, panose=panose, size="10.5pt" if zh else "12.0pt",
                               justify="\n\ttext-align:justify;\n\ttext-justify:inter-ideograph;" if zh else "",
                               plain_style="纯文本 字符" if zh else "Plain Text Char")
    body_tag = ("<body lang=ZH-CN link=\"#0563C1\" vlink=\"#954F72\" style='text-justify-trim:punctuation'>" if zh
                else "<body lang=EN-US link=\"#0563C1\" vlink=\"#954F72\" style='word-wrap:break-word'>")
    html = (head + body_tag + "<div class=WordSection1>"
            + "".join(para(esc(line)) for line in r.typed) + para("") + "".join(signature) + para("")
            + "<div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>"
            + f"<p class=MsoNormal>{block}<o:p></o:p></p></div></div>" + para("")
            + "".join(para(linkify(esc(line)), "MsoPlainText") for line in n.lines)
            + "</div></body></html>")

    filetime = windows_filetime(r.date)
    boundary = (f"----=_NextPart_000_{int.from_bytes(r.token(2, 'part')) & 0x0FFF:04X}_"
                f"{filetime >> 32:08X}.{filetime & 0xFFFFFFFF:08X}")
    headers = outlook_headers(r, charset, f'multipart/alternative;{CRLF}\tboundary="{boundary}"')
    plain_cte, plain_body = (("7bit", text) if charset.codec == "ascii"
                             else ("quoted-printable", quoted_printable(charset.encode(text), break_at_space=True)))
    return multipart(headers, boundary, [
        part(f'Content-Type: text/plain;{CRLF}\tcharset="{charset.label}"', plain_cte, plain_body),
        part(f'Content-Type: text/html;{CRLF}\tcharset="{charset.label}"', "quoted-printable",
             quoted_printable(charset.encode(html), break_at_space=True) + CRLF),
    ], preamble="This is a multipart message in MIME format." + CRLF + CRLF, close=CRLF + CRLF)


def outlook_desktop_plain(r: Reply) -> str:
    """Outlook 16 answering a plain-text mail in plain text (its default for a text/plain notice):
    one text/plain part, the typed text, the signature, then "-----Original Message-----" (zh
    "-----原始邮件-----") over the From/Sent/To/Subject lines and the notice, unindented."""
    n, zh = r.notice, r.zh
    charset = gb2312_or(UTF8, r.texts()) if zh else ascii_or_utf8(r.texts())
    labels = ("发件人", "发送时间", "收件人", "主题") if zh else ("From", "Sent", "To", "Subject")
    values = (named(n.sender), dates(n.date)["outlook_zh" if zh else "outlook_en"], named(n.to), n.subject)
    lines = [*r.typed, "", *r.signature, "", "-----原始邮件-----" if zh else "-----Original Message-----",
             *(f"{k}: {v}" for k, v in zip(labels, values, strict=True)), "", *n.lines]
    headers = outlook_headers(r, charset, f'text/plain;{CRLF}\tcharset="{charset.label}"')
    text = CRLF.join(lines) + CRLF
    if charset.codec == "ascii":
        return CRLF.join([*headers, "Content-Transfer-Encoding: 7bit", "", text])
    return CRLF.join([*headers, "Content-Transfer-Encoding: quoted-printable", "",
                      quoted_printable(charset.encode(text), break_at_space=True)])


# --- Outlook on the web / new Outlook (Exchange Online) -------------------------------------------

OWA_FONT = "font-family: Aptos, Aptos_EmbeddedFont, Aptos_MSFontService, Calibri, Helvetica, sans-serif; " \
           "font-size: 12pt; color: rgb(0, 0, 0);"


def outlook_web(r: Reply) -> str:
    """Outlook on the web (new Outlook for Windows, outlook.com) as Exchange Online sends it: Exchange
    headers (Thread-Topic, Thread-Index, Accept-Language, X-MS-Has-Attach, Date in UTC), UTF-8 (us-ascii
    when it can be) quoted-printable, text in `elementToProof` divs, the signature in div#Signature,
    then div#appendonsend, the 98% rule, div#divRplyFwdMsg with From/Sent/To/Subject and the plain
    notice in div.PlainText. The text part puts 32 underscores before the header lines. Chinese:
    "回复: ", 发件人/发送时间/收件人/主题."""
    n, zh = r.notice, r.zh
    charset = ascii_or_utf8(r.texts())
    labels = ("发件人", "发送时间", "收件人", "主题") if zh else ("From", "Sent", "To", "Subject")
    to = named(n.to) if n.to[0] else f"{n.to[1]} <{n.to[1]}>"  # OWA names a bare address by itself
    values = (named(n.sender), dates(n.date)["outlook_zh" if zh else "outlook_en"], to, n.subject)

    text = CRLF.join([*r.typed, "", *r.signature, "_" * 32, *(f"{k}: {v}" for k, v in zip(labels, values, strict=True)),
                      "", *n.lines]) + CRLF
    typed = "".join(f'<div class="elementToProof" style="{OWA_FONT}">\n{esc(line) or "<br>"}</div>\n'
                    for line in r.typed)
    signature = "".join(f'<div style="{OWA_FONT}">\n{esc(line)}</div>\n' for line in r.signature)
    header = "<br>\n".join(f"<b>{k}:</b> {esc(v)}" for k, v in zip(labels, values, strict=True))
    quote = "".join(linkify(esc(line), url_break="\n") + "<br>\n" for line in n.lines)
    html = (f'<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset={charset.label}">\n'
            '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>\n'
            f'</head>\n<body dir="ltr">\n{typed}<div class="elementToProof">\n<div style="{OWA_FONT}">\n<br>\n</div>\n'
            f'<div id="Signature">\n<div>\n{signature}</div>\n</div>\n</div>\n<div id="appendonsend"></div>\n'
            '<hr style="display:inline-block;width:98%" tabindex="-1">\n'
            '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
            f'color="#000000">{header}</font>\n<div>&nbsp;</div>\n</div>\n'
            '<div class="BodyFragment"><font size="2"><span style="font-size:11pt;">\n'
            f'<div class="PlainText">{quote}</div>\n</span></font></div>\n</body>\n</html>\n')

    local = re.sub(r"[^A-Za-z0-9]", "", r.message_id)[:60]
    boundary = f"_000_{local}_"
    prefix = "回复: " if zh else "Re: "
    headers = [
        f"From: {mailbox_header(r.agent, charset)}",
        f"To: {mailbox_header(n.reply_to, charset)}",
        f"Subject: {header_text(prefix + n.subject, charset)}",
        f"Thread-Topic: {header_text(n.subject, charset)}",
        f"Thread-Index: {thread_index(r)}",
        f"Date: {rfc2822(r.date.astimezone(UTC))}",
        f"Message-ID: {r.message_id}",
        f"References: {' '.join(r.references)}",
        f"In-Reply-To: {n.message_id}",
        f"Accept-Language: {'zh-CN, en-US' if zh else 'en-US'}",
        f"Content-Language: {'zh-CN' if zh else 'en-US'}",
        "X-MS-Has-Attach: ",
        "X-MS-TNEF-Correlator: ",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
        "MIME-Version: 1.0",
    ]
    return multipart(headers, boundary, [
        part(f'Content-Type: text/plain; charset="{charset.label}"', "quoted-printable",
             quoted_printable(charset.encode(text)) + CRLF),
        part(f'Content-Type: text/html; charset="{charset.label}"', "quoted-printable",
             quoted_printable(charset.encode(html)) + CRLF),
    ])


# --- Gmail (web) ------------------------------------------------------------------------------------

GMAIL_QUOTE = "margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"


def gmail(r: Reply) -> str:
    """Gmail on the web with its default signature setting: the typed text, the gmail_quote container
    (attribution "On Wed, Dec 2, 2026 at 3:00 PM Name <addr> wrote:", in Chinese "Name <addr>
    于2026年12月2日周三 下午3:00写道：", the notice in a gmail_quote blockquote), and the signature after
    the quote behind a "-- " prefix. The text part is hard-wrapped at 76 columns (the attribution
    breaks after its "<"), quotes with "> " (">" alone on empty lines). UTF-8, quoted-printable or
    base64 whichever is shorter, boundary "000000000000…"; the subject keeps "Re: " and its ASCII
    words raw and encodes the rest."""
    n, zh = r.notice, r.zh
    sender_name, sender_address = n.sender
    who = f"{sender_name} <{sender_address}>" if sender_name else f"<{sender_address}>"
    when = dates(n.date)["gmail_zh" if zh else "gmail_en"]
    attribution = f"{who} 于{when}写道：" if zh else f"On {when} {who} wrote:"

    quoted = [("> " + piece) if piece else ">" for line in n.lines for piece in wrap(line, 74)]
    text = CRLF.join([*(w for line in r.typed for w in wrap(line)), "", *wrap(attribution, after="<"), "", *quoted,
                      "", "-- ", *r.signature]) + CRLF

    who_html = (f'{esc(sender_name)} &lt;<a href="mailto:{sender_address}">{sender_address}</a>&gt;' if sender_name
                else f'&lt;<a href="mailto:{sender_address}">{sender_address}</a>&gt;')
    attr_html = f"{who_html} 于{when}写道：" if zh else f"On {when} {who_html} wrote:"
    typed = "".join(f"<div>{esc(line, quot=True, apos=True) or '<br>'}</div>" for line in r.typed)
    quote = "".join(linkify(esc(line, quot=True, apos=True), url_attrs=' rel="noreferrer" target="_blank"',
                            mail_attrs=' target="_blank"') + "<br>\n" for line in n.lines)
    signature = esc(r.signature[0], quot=True, apos=True) + "".join(
        f"<div>{esc(line, quot=True, apos=True)}</div>" for line in r.signature[1:])
    html = (f'<div dir="ltr">{typed}</div><br><div class="gmail_quote gmail_quote_container">'
            f'<div dir="ltr" class="gmail_attr">{attr_html}<br></div>'
            f'<blockquote class="gmail_quote" style="{GMAIL_QUOTE}">{quote}</blockquote></div>'
            '<br clear="all"><div><br></div><span class="gmail_signature_prefix">-- </span><br>'
            f'<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature"><div dir="ltr">{signature}'
            "</div></div>\n")

    boundary = "000000000000" + r.token(8, "boundary").hex()
    headers = [
        "MIME-Version: 1.0",
        f"References: {' '.join(r.references)}",
        f"In-Reply-To: {n.message_id}",
        f"From: {mailbox_header(r.agent, UTF8, 'UTF-8')}",
        f"Date: {rfc2822(r.date)}",
        f"Message-ID: {r.message_id}",
        f"Subject: {header_text('Re: ' + n.subject, UTF8, 'UTF-8', tail=True)}",
        f"To: {mailbox_header(n.reply_to, UTF8, 'UTF-8')}",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    parts = []
    for subtype, body in (("plain", text), ("html", html)):
        cte, encoded = body_encoding(body, UTF8)
        parts.append(part(f'Content-Type: text/{subtype}; charset="UTF-8"', cte, encoded + CRLF))
    return multipart(headers, boundary, parts)


# --- Apple Mail (macOS) ----------------------------------------------------------------------------

APPLE_BODY = "overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;"
APPLE_BUILD = "3774.600.62"


def apple_mail(r: Reply) -> str:
    """Apple Mail 16 on macOS, signature above the quote (its default): multipart/alternative of a
    UTF-8 quoted-printable text part (soft breaks after spaces) and WebKit HTML. The text part has
    no "-- " before the signature, and the attribution is quoted along with the notice: "> On Dec
    2, 2026, at 3:00 PM, Name <addr> wrote:" then "> " (in Chinese "> 2026年12月2日 15:00，Name
    <addr> 写道："). In HTML the attribution opens the blockquote type=cite. "Re: " in both
    languages; Mime-Version names the Mail build."""
    n, zh = r.notice, r.zh
    when = dates(n.date)["apple_zh" if zh else "apple_en"]
    who = named(n.sender)
    attribution = f"{when}，{who} 写道：" if zh else f"On {when}, {who} wrote:"

    quoted = ["> " + line for line in [attribution, "", *n.lines]]
    text = CRLF.join([*r.typed, "", *r.signature, "", *quoted, "", ""])

    typed = esc(r.typed[0]) + "".join(f"<div>{esc(line) or '<br>'}</div>" for line in r.typed[1:])
    signature = "".join(f"<div>{esc(line)}</div>" for line in r.signature)
    html = (f'<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
            f'<body style="{APPLE_BODY}">{typed}<br id="lineBreakAtBeginningOfSignature">'
            f'<div dir="auto" style="{APPLE_BODY}">{signature}</div>\n<div><br><blockquote type="cite">'
            f'<div>{esc(attribution)}</div><br class="Apple-interchange-newline"><div><div>'
            + "<br>".join(esc(line) for line in n.lines)
            + "</div></div></blockquote></div><br></body></html>")

    boundary = "Apple-Mail=_" + str(uuid.UUID(bytes=r.token(16, "boundary"))).upper()
    headers = [
        f"From: {mailbox_header(r.agent, UTF8)}",
        f"Message-Id: {r.message_id}",
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary}"',
        f"Mime-Version: 1.0 (Mac OS X Mail 16.0 \\({APPLE_BUILD}\\))",
        f"Subject: {header_text('Re: ' + n.subject, UTF8)}",
        f"Date: {rfc2822(r.date)}",
        f"In-Reply-To: {n.message_id}",
        f"To: {mailbox_header(n.reply_to, UTF8)}",
        f"References: {(CRLF + ' ').join(r.references)}",
        f"X-Mailer: Apple Mail (2.{APPLE_BUILD})",
    ]
    content_type = f"Content-Type: text/{{}};{CRLF}\tcharset=utf-8"
    return multipart(headers, boundary, [
        part(content_type.format("plain"), "quoted-printable",
             quoted_printable(UTF8.encode(text), break_at_space=True), cte_first=True),
        # Apple ends the HTML without a line break: its last line closes with a soft break
        part(content_type.format("html"), "quoted-printable",
             quoted_printable(UTF8.encode(html), break_at_space=True) + "=" + CRLF, cte_first=True),
    ], preamble=CRLF, close=CRLF + CRLF)


# --- Foxmail (Windows) -----------------------------------------------------------------------------

FOXMAIL_STYLE = ("body { line-height: 1.5; }blockquote { margin-top: 0px; margin-bottom: 0px; margin-left: 0.5em; }"
                 "body { font-size: 14px; font-family: 'Microsoft YaHei UI'; color: rgb(0, 0, 0); line-height: 1.5; }")
FOXMAIL_BOX = ("PADDING-RIGHT: 8px; PADDING-LEFT: 8px; FONT-SIZE: 12px;FONT-FAMILY:tahoma;COLOR:#000000; "
               "BACKGROUND: #efefef; PADDING-BOTTOM: 8px; PADDING-TOP: 8px")


def foxmail(r: Reply) -> str:
    """Foxmail 7.2 on Windows: text part in base64 (with CRLF inside), HTML part quoted-printable with
    its line feeds as =0A; GB2312 label (GBK bytes) in Chinese, UTF-8 in English. The signature sits
    under Foxmail's 210px rule; the quote is a blockquote opening with the grey From/Date/To/Subject
    box (发件人：/发送时间：/收件人：/主题： with full-width colons in Chinese), From naming the sender
    only. "Re: " / "回复: ". Foxmail sends References but no In-Reply-To."""
    n, zh = r.notice, r.zh
    charset = gb2312_or(Charset("UTF-8", "utf-8"), r.texts(), "GB2312") if zh else Charset("UTF-8", "utf-8")
    labels = ("发件人：", "发送时间：", "收件人：", "主题：") if zh else ("From:", "Date:", "To:", "Subject:")
    when = dates(n.date)["foxmail"]
    sender, to = n.sender[0] or n.sender[1], n.to[0] or n.to[1]

    text = CRLF.join([*r.typed, "", "", "", *r.signature, " ",
                      *(f"{k} {v}" for k, v in zip(labels, (sender, when, to, n.subject), strict=True)),
                      *(line or " " for line in n.lines)]) + CRLF

    typed = "".join(f"<div>{'<span></span>' if i == 0 else ''}{esc(line, quot=True) or '<br>'}</div>"
                    for i, line in enumerate(r.typed))
    signature = "".join(f"<div>{esc(line, quot=True)}</div>" for line in r.signature)
    box = "".join(f"<div><b>{k}</b>&nbsp;{v}</div>" for k, v in zip(labels, (
        f'<a href="mailto:{n.sender[1]}">{esc(sender)}</a>', when.replace(" ", "&nbsp;"),
        f'<a href="mailto:{n.to[1]}">{esc(to)}</a>', esc(n.subject, quot=True)), strict=True))
    quote = "\n".join(f"<div>{esc(line, quot=True) or '&nbsp;'}</div>" for line in n.lines)
    html = (f'<html><head><meta http-equiv="content-type" content="text/html; charset={charset.label}">'
            f"<style>{FOXMAIL_STYLE}</style></head><body>\n{typed}\n"
            '<div><br></div><hr style="width: 210px; height: 1px;" color="#b5c4df" size="1" align="left">\n'
            '<div><span><div style="MARGIN: 10px; FONT-FAMILY: verdana; FONT-SIZE: 10pt">'
            f"{signature}</div></span></div>\n"
            '<blockquote style="margin-Top: 0px; margin-Bottom: 0px; margin-Left: 0.5em; margin-Right: inherit">'
            '<div>&nbsp;</div><div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
            f'<div style="{FOXMAIL_BOX}">{box}</div></div><div>{quote}\n</div></blockquote>\n</body></html>')

    boundary = f"----=_001_NextPart{int.from_bytes(r.token(5, 'boundary')) % 10**12:012d}_=----"
    headers = [
        f"Date: {rfc2822(r.date)}",
        f"From: {mailbox_header(r.agent, charset, quote=True)}",
        f"To: {mailbox_header(n.reply_to, charset, quote=True)}",
        f"Subject: {header_text(('回复: ' if zh else 'Re: ') + n.subject, charset)}",
        "References: " + f", {CRLF}\t".join(r.references),
        "X-Priority: 3",
        f"X-GUID: {str(uuid.UUID(bytes=r.token(16, 'guid'))).upper()}",
        "X-Has-Attach: no",
        "X-Mailer: Foxmail 7.2.25.375[cn]",
        "Mime-Version: 1.0",
        f"Message-ID: {r.message_id}",
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary}"',
    ]
    content_type = f'Content-Type: text/{{}};{CRLF}\tcharset="{charset.label}"'
    return multipart(headers, boundary, [
        part(content_type.format("plain"), "base64", base64_lines(charset.encode(text)) + CRLF),
        part(content_type.format("html"), "quoted-printable",
             quoted_printable(charset.encode(html), newlines_as_text=True)),
    ], preamble="This is a multi-part message in MIME format." + CRLF + CRLF, close=CRLF + CRLF)


# --- QQ Mail (mail.qq.com) -------------------------------------------------------------------------

def qq_plain(text: str) -> str:
    """QQ Mail's text part is its HTML with the tags taken out and only &lt; and &quot; decoded:
    &gt;, &amp; and &nbsp; stay in the text, as they do in real QQ mail."""
    return esc(text, quot=True).replace("&lt;", "<").replace("&quot;", '"')


def qq_mail(r: Reply) -> str:
    """QQ Mail on the web: both parts base64 in 72-column lines, gb18030 in Chinese (its default UI)
    and UTF-8 in English, top-level "Content-Transfer-Encoding: 8Bit", every display name as quoted
    encoded words. HTML: <div> lines, the signature in <sign signid="0"> under "------------------",
    then <includetail> with "------------------ 原始邮件 ------------------" (English "Original") and
    the grey 发件人/发送时间/收件人/主题 box ("Wed, Dec 2, 2026 03:00 PM" / "2026年12月2日(星期三)
    下午3:00"). "回复：" with a full-width colon / "Re:" without a space."""
    n, zh = r.notice, r.zh
    charset = Charset("gb18030", "gb18030") if zh else UTF8
    title = "原始邮件" if zh else "Original"
    labels = ("发件人:", "发送时间:", "收件人:", "主题:") if zh else ("From: ", "Date: ", "To: ", "Subject: ")
    sender = f'"{n.sender[0] or n.sender[1].split("@")[0]}"<{n.sender[1]}>;'
    to = f'"{n.to[0] or n.to[1].split("@")[0]}"<{n.to[1]}>;'
    when = dates(n.date)["qq_zh" if zh else "qq_en"]

    text = CRLF.join([*(qq_plain(line) for line in r.typed), "", "------------------", *map(qq_plain, r.signature),
                      "&nbsp;", f"------------------&nbsp;{title}&nbsp;------------------",
                      f"{labels[0]}&nbsp;{qq_plain(sender)}", f"{labels[1]}&nbsp;{when}",
                      f"{labels[2]}&nbsp;{qq_plain(to)}", "", f"{labels[3]}&nbsp;{qq_plain(n.subject)}", "", "", "",
                      *map(qq_plain, n.lines)]) + CRLF

    typed = "".join(f"<div>{esc(line, quot=True) or '<br>'}</div>" for line in r.typed)
    signature = "<br>".join(esc(line, quot=True) for line in r.signature)
    box = (f"<div><b>{labels[0]}</b>&nbsp;{esc(sender, quot=True)}</div><div><b>{labels[1]}</b>&nbsp;{when}</div>"
           f"<div><b>{labels[2]}</b>&nbsp;{esc(to, quot=True)}<wbr></div><div></div>"
           f"<div><b>{labels[3]}</b>&nbsp;{esc(n.subject, quot=True)}</div>")
    html = (f'{typed}<div><br></div><div><sign signid="0"><div style="color:#909090;font-family:Arial Narrow;'
            'font-size:12px">------------------</div><div style="font-size:14px;font-family:Verdana;color:#000;">'
            f'{signature}</div></sign></div><div>&nbsp;</div><div><includetail><div style="font:Verdana normal 14px;'
            'color:#000;"><div style="FONT-SIZE: 12px;FONT-FAMILY: Arial Narrow;padding:2px 0 2px 0;">'
            f'------------------&nbsp;{title}&nbsp;------------------</div>'
            f'<div style="FONT-SIZE: 12px;background:#efefef;padding:8px;">{box}</div><div><br></div>'
            + "<br>".join(esc(line, quot=True) for line in n.lines) + "</div></includetail></div>")

    stamp = int(r.date.timestamp())
    boundary = f"----=_NextPart_{stamp:08X}_{r.token(4, 'b1').hex().upper()}_{r.token(4, 'b2').hex().upper()}"
    label = "gb18030" if zh else "utf-8"
    headers = [
        "X-QQ-STYLE: ",
        f"X-QQ-mid: webmail{int.from_bytes(r.token(2, 'mid')) % 1000}t{stamp}t{int.from_bytes(r.token(3, 'mid2'))}",
        f"From: {mailbox_header(r.agent, charset, label, encode_all=True)}",
        f"To: {mailbox_header(n.reply_to, charset, label, encode_all=True)}",
        f"Subject: {header_text(('回复：' if zh else 'Re:') + n.subject, charset, label)}",
        "Mime-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary}"',
        "Content-Transfer-Encoding: 8Bit",
        f"Date: {rfc2822(r.date)}",
        "X-Priority: 3",
        f"Message-ID: {r.message_id}",
        "X-QQ-MIME: TCMime 1.0 by Tencent",
        "X-Mailer: QQMail 2.x",
        "X-QQ-Mailer: QQMail 2.x",
        "References: " + f"{CRLF}\t".join(r.references),
        f"In-Reply-To: {n.message_id}",
        f"X-QQ-ReplyHash: {int.from_bytes(r.token(4, 'hash'))}",
    ]
    content_type = f'Content-Type: text/{{}};{CRLF}\tcharset="{label}"'
    return multipart(headers, boundary, [
        part(content_type.format("plain"), "base64", base64_lines(charset.encode(text), 72) + CRLF),
        part(content_type.format("html"), "base64", base64_lines(charset.encode(html), 72) + CRLF),
    ], preamble="This is a multi-part message in MIME format." + CRLF + CRLF, close=CRLF + CRLF + CRLF)


BUILDERS = {
    "outlook_desktop": outlook_desktop,
    "outlook_desktop_plain": outlook_desktop_plain,
    "outlook_web": outlook_web,
    "gmail": gmail,
    "apple_mail": apple_mail,
    "foxmail": foxmail,
    "qq_mail": qq_mail,
}
