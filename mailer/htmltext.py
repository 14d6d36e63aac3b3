"""HTML mail bodies: sanitised for display (nh3) and flattened into readable text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
          "table", "ul", "ol", "hr", "section", "article", "header", "footer"}
SKIPPED = {"script", "style", "head", "title"}
VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}
# Containers that hold quoted history or a signature, by client: Gmail, Yahoo, Thunderbird,
# Apple Mail (blockquote type=cite), Outlook (divRplyFwdMsg, appendonsend), QQ Mail/Foxmail.
QUOTE_CLASSES = ("gmail_quote", "gmail_signature", "gmail_extra", "yahoo_quoted", "moz-cite-prefix",
                 "protonmail_quote", "ms-outlook-quote", "qmbox_quote")
QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "origbody", "isforwardcontent", "reply-content")


def sanitise(markup: str) -> str:
    """Markup safe to show in the admin: no scripts, styles, event handlers or remote forms."""
    return nh3.clean(markup, url_schemes={"http", "https", "mailto", "cid"})


def is_quote_container(tag: str, attrs: dict) -> bool:
    classes = (attrs.get("class") or "").lower()
    ident = (attrs.get("id") or "").lower()
    return (any(c in classes for c in QUOTE_CLASSES) or ident in QUOTE_IDS
            or (tag == "blockquote" and (attrs.get("type") or "").lower() == "cite"))


class _TextExtractor(HTMLParser):
    def __init__(self, drop_quotes: bool = False):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0
        self.drop_quotes = drop_quotes
        self.dropping = 0  # depth inside a quote container being dropped
        self.stopped = False  # Outlook: everything after its reply separator is history

    def handle_starttag(self, tag, attrs):
        if self.stopped:
            return
        if self.dropping:
            self.dropping += tag not in VOID
            return
        if self.drop_quotes and is_quote_container(tag, dict(attrs)):
            if (dict(attrs).get("id") or "").lower() in ("divrplyfwdmsg", "appendonsend"):
                self.stopped = True
            else:
                self.dropping = 0 if tag in VOID else 1
            return
        if tag in SKIPPED:
            self.skip += 1
        elif tag == "blockquote":
            self.quote += 1
            self.out.append("\n")
        elif tag in BLOCKS:
            self.out.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[{alt}]")

    def handle_endtag(self, tag):
        if self.stopped:
            return
        if self.dropping:
            self.dropping -= tag not in VOID
            return
        if tag in SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self.out.append("\n")
        elif tag in BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if self.skip or self.dropping or self.stopped:
            return
        data = re.sub(r"\s+", " ", data)
        if self.quote and data.strip():
            data = "> " * self.quote + data.strip()
        self.out.append(data)


def to_text(markup: str, drop_quotes: bool = False) -> str:
    """Readable text of an HTML body; with drop_quotes, without quoted history and signatures."""
    if not markup:
        return ""
    parser = _TextExtractor(drop_quotes)
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient; this guards against the truly broken
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    lines = [line.strip() for line in "".join(parser.out).replace("\xa0", " ").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
