"""Build outgoing messages from the email templates, with the headers clients thread on."""

from __future__ import annotations

import base64
import functools
import re
import urllib.parse
import uuid
from email.header import Header
from email.utils import format_datetime, formataddr, localtime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from markupsafe import Markup, escape

if TYPE_CHECKING:
    import jinja2


def _templates() -> Path:
    """templates/ of the checkout, else where a wheel installs it (site-packages/postdesk/templates)."""
    root = Path(__file__).resolve().parent.parent
    checkout = root / "templates"
    return checkout if checkout.is_dir() else root / "postdesk" / "templates"


TEMPLATES = _templates()
LOOP_HEADER = "X-Postdesk-Loop"

class Rendered(NamedTuple):
    subject: str
    text: str
    html: str  # "" when the message has no HTML template (staff mail)


@functools.lru_cache(maxsize=16)
def _environment(folder: str) -> jinja2.Environment:
    """Templates of `folder` (a mailbox's own, files named as in templates/email/) before ours.
    Jinja is imported here, when the first mail is written: a process that writes none (`postdesk
    import --no-notify`) does without its 25 ms."""
    import jinja2

    ours = jinja2.FileSystemLoader(str(TEMPLATES))
    loader = jinja2.ChoiceLoader([jinja2.PrefixLoader({"email": jinja2.FileSystemLoader(folder)}), ours]) \
        if folder else ours
    env = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(["html"]),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters.update(breaks=_breaks, paragraphs=_paragraphs)
    return env


def render(name: str, language: str, folder: str = "", html: bool = False, **context) -> Rendered:
    """Render email/<name>.<language>.txt, which sets `subject`; with `html`, also
    email/<name>.<language>.html, else the text laid out as HTML (email/from_text.html). The
    English file stands in for a language without its own. `folder`: a mailbox's template
    folder, whose files replace ours of the same name."""
    env = _environment(folder)
    template = env.get_or_select_template([f"email/{name}.{language}.txt", f"email/{name}.en.txt"])
    module = template.make_module(context)
    subject, text = " ".join(str(module.subject).split()), str(module)
    if not html:
        return Rendered(subject, text, "")
    page = env.get_or_select_template([f"email/{name}.{language}.html", f"email/{name}.en.html",
                                       "email/from_text.html"])
    return Rendered(subject, text, page.render(context, subject=subject, language=language, text=text))


def _breaks(text: str) -> Markup:
    return Markup("<br>").join(escape(line) for line in str(text).splitlines())


def _paragraphs(text: str, signature: str = "") -> Markup:
    """A text body as HTML: paragraphs at blank lines, indented lines set off; the mailbox's
    `signature` after the last "-- " left to the layout, and any other "-- " kept with what
    follows it (an agent's own, say)."""
    body = str(text)
    cut = body.rfind("\n-- \n")
    if signature and cut >= 0 and body[cut + 4:].strip() == str(signature).strip():
        body = body[:cut]
    blocks = [b for b in re.split(r"\n\s*\n", body.strip("\n")) if b.strip()]
    html = []
    for block in blocks:
        quoted = all(line.startswith(("    ", "\t")) for line in block.splitlines())
        style = ' style="margin-left:16px;color:#57606a;"' if quoted else ""
        html.append(Markup(f"<p{style}>") + _breaks("\n".join(line.strip() for line in block.splitlines()))
                    + Markup("</p>"))
    return Markup("\n").join(html)


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def build(*, sender_name: str, sender: str, to: str, subject: str, text: str, message_id: str,
          in_reply_to: str = "", references: tuple[str, ...] = (), automatic: bool = False,
          reply_to: str = "", cc: tuple[str, ...] = (), attachments: tuple = (),
          auto_submitted: str = "auto-replied", html: str = "", unsubscribe: str = "") -> bytes:
    """One UTF-8 message as bytes, ready for the outbox: text/plain, multipart/alternative with
    `html`, and multipart/mixed around either with `attachments` (objects with filename,
    content_type and data). Written directly, not with the email package, whose generator costs
    more than the rest of an SLA alert together; every line within 998 octets (RFC 5322), so no
    relay refuses it or breaks a long link. `unsubscribe`: an https URL that unsubscribes with
    one POST (RFC 8058)."""
    headers = [("From", formataddr((sender_name, sender), charset="utf-8")),  # RFC 2047 for a non-ASCII name
               ("To", to)]
    if cc:
        headers.append(("Cc", ", ".join(cc)))
    headers += [("Subject", subject), ("Date", format_datetime(localtime())), ("Message-ID", message_id)]
    if reply_to:
        headers.append(("Reply-To", formataddr((sender_name, reply_to), charset="utf-8")))
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to))
    refs = list(dict.fromkeys([r for r in references if r] + ([in_reply_to] if in_reply_to else [])))
    if refs:
        headers.append(("References", " ".join(refs)))
    if automatic:
        # RFC 3834: mark automatic answers so other robots do not answer them back, and ask
        # Exchange/Outlook not to send its own auto-replies to them.
        headers += [("Auto-Submitted", auto_submitted),  # auto-replied, or auto-generated for notices
                    ("X-Auto-Response-Suppress", "All")]
    if unsubscribe:
        headers += [("List-Unsubscribe", f"<{unsubscribe}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    headers.append((LOOP_HEADER, sender))
    lines = [_header(name, value) for name, value in headers] + ["MIME-Version: 1.0"]
    body = _alternative(text, html) if html else _part("plain", text)
    if attachments:
        boundary = _boundary()
        lines += [f'Content-Type: multipart/mixed; boundary="{boundary}"', "", f"--{boundary}", *body]
        for part in attachments:
            lines += [f"--{boundary}", *_attachment(part)]
        body = [f"--{boundary}--"]
    # UTF-8 only in an address that has it (RFC 6532: delivery then asks for SMTPUTF8); the rest is ASCII.
    return ("\r\n".join(lines + body) + "\r\n").encode("utf-8")


def _boundary() -> str:
    return f"=_postdesk_{uuid.uuid4().hex}"


def _alternative(text: str, html: str) -> list[str]:
    boundary = _boundary()
    return [f'Content-Type: multipart/alternative; boundary="{boundary}"', "",
            f"--{boundary}", *_part("plain", text), f"--{boundary}", *_part("html", html), f"--{boundary}--"]


def _part(subtype: str, text: str) -> list[str]:
    """Content headers, a blank line and the body: 7bit when the text is ASCII with lines a
    server takes (998 octets), else UTF-8 in base64."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= 998 for line in text.split("\n")):
        return [f'Content-Type: text/{subtype}; charset="us-ascii"', "Content-Transfer-Encoding: 7bit", "",
                text.replace("\n", "\r\n")]
    return [f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: base64", "",
            _base64(text.encode("utf-8"))]


TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}")
UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\]')


def _attachment(part) -> list[str]:
    """An attachment in base64, its file name as RFC 2231 says for a non-ASCII one (which every
    current client reads)."""
    ctype = (part.content_type or "").lower()
    ctype = ctype if TOKEN.fullmatch(ctype) else "application/octet-stream"
    name = UNSAFE_NAME.sub("_", part.filename or "attachment")
    return [f"Content-Type: {ctype}", "Content-Transfer-Encoding: base64", *_disposition(name), "",
            _base64(bytes(part.data))]


NAME_SEGMENT = 60  # characters of a file name per RFC 2231 continuation line


def _disposition(name: str) -> list[str]:
    """Content-Disposition with the file name: quoted if ASCII, else RFC 2231's UTF-8 form; a
    long one in numbered segments (RFC 2231 section 3), one per line, so no line passes 78."""
    encoded = name if name.isascii() else urllib.parse.quote(name, safe="")
    if len(encoded) <= NAME_SEGMENT:
        return [f'Content-Disposition: attachment; filename="{name}"' if name.isascii()
                else f"Content-Disposition: attachment; filename*=utf-8''{encoded}"]
    segments, start = [], 0
    while start < len(encoded):
        end = min(start + NAME_SEGMENT, len(encoded))
        while not name.isascii() and end < len(encoded) and "%" in encoded[end - 2:end]:
            end -= 1  # never inside a %XX escape
        segments.append(encoded[start:end])
        start = end
    if name.isascii():
        params = [f'filename*{n}="{segment}"' for n, segment in enumerate(segments)]
    else:
        segments[0] = "utf-8''" + segments[0]
        params = [f"filename*{n}*={segment}" for n, segment in enumerate(segments)]
    return ["Content-Disposition: attachment;", *(f" {p};" for p in params[:-1]), f" {params[-1]}"]


def _base64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n").removesuffix("\r\n")


ADDRESS_FIELDS = ("To", "Cc")
LONGEST_WORD = 900  # a word longer than this is written as RFC 2047 words, which fold anywhere


def _header(name: str, value: str) -> str:
    """One header field, folded at spaces before 78 columns; non-ASCII text as RFC 2047 words of
    at most 75 characters, except in an address list (bare addresses here), where RFC 2047 has no
    place: an internationalised address is written as it is (RFC 6532)."""
    value = " ".join(value.split())  # no line breaks of its own
    too_long = any(len(word) > LONGEST_WORD for word in value.split(" "))  # no space to fold at
    if (too_long or not value.isascii()) and name not in ADDRESS_FIELDS:
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n", maxlinelen=75)
    line, folded = f"{name}:", []
    for word in value.split(" "):
        if len(line) + 1 + len(word) > 78 and line.strip() and line != f"{name}:":
            folded.append(line)
            line = ""
        line += " " + word
    return "\r\n".join([*folded, line])
