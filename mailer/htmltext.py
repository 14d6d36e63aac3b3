"""HTML mail bodies: sanitised for display (nh3) and flattened into readable text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
          "table", "ul", "ol", "hr", "section", "article", "header", "footer"}
SKIPPED = {"script", "style", "head", "title"}


def sanitise(markup: str) -> str:
    """Markup safe to show in the admin: no scripts, styles, event handlers or remote forms."""
    return nh3.clean(markup, url_schemes={"http", "https", "mailto", "cid"})


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0

    def handle_starttag(self, tag, attrs):
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
        if tag in SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self.out.append("\n")
        elif tag in BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if self.skip:
            return
        data = re.sub(r"\s+", " ", data)
        if self.quote and data.strip():
            data = "> " * self.quote + data.strip()
        self.out.append(data)


def to_text(markup: str) -> str:
    if not markup:
        return ""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient; this guards against the truly broken
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    lines = [line.strip() for line in "".join(parser.out).replace("\xa0", " ").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
