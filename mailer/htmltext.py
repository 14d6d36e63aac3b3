"""HTML mail bodies: sanitised for display (nh3) and flattened into readable text, in linear time."""

from __future__ import annotations

import functools
import html
import re
from collections import deque
from itertools import islice

import nh3
from selectolax.lexbor import LexborDocumentOptions, LexborHTMLParser

BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
          "table", "ul", "ol", "hr", "section", "article", "header", "footer"}
SKIPPED = {"script", "style", "head", "title"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
        "source", "track", "wbr", "basefont", "bgsound", "frame", "image"}
# Containers that hold quoted history or a signature, by client: Gmail, Yahoo, Thunderbird,
# Apple Mail (blockquote type=cite), Outlook (divRplyFwdMsg, appendonsend), QQ Mail/Foxmail,
# Hotmail (hr id=stopSpelling), Zimbra (hr id=zwchr).
QUOTE_CLASSES = ("gmail_quote", "gmail_signature", "gmail_extra", "yahoo_quoted", "moz-cite-prefix",
                 "protonmail_quote", "ms-outlook-quote", "qmbox_quote")
QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "origbody", "isforwardcontent", "reply-content", "stopspelling",
             "zwchr")
STOPS = ("divrplyfwdmsg", "appendonsend", "stopspelling", "zwchr")  # everything after this separator is history
QUOTE_SELECTOR = ", ".join([f'[class*="{c}" i]' for c in QUOTE_CLASSES]
                           + [f'[id="{i}" i]' for i in QUOTE_IDS] + ['blockquote[type="cite" i]'])

# HTML5 tree builders (lexbor, html5ever under nh3) spend time proportional to the depth of the
# open-element stack on many tags, and html5ever's list of active formatting elements grows with
# elements closed only implicitly: 1 MB of "<div>" costs minutes in either. bounded_markup() hands
# them markup no deeper than MAX_DEPTH (Chrome stops nesting at 512), every element closed
# explicitly, at most MAX_ELEMENTS elements, and at most MAX_ATTRIBUTES attributes a tag (lexbor is
# quadratic in their number).
MAX_DEPTH = 256
MAX_ELEMENTS = 50_000  # then tags are dropped, their text kept: bounds the tree walk (~3 µs a node)
MAX_ATTRIBUTES = 64
RAW_TEXT = {"script", "style", "title"}
TITLE_LIMIT = 1000  # characters of a <title> kept: its text is one node, written as it stands
# Raw-text elements read as markup instead, as html.parser always read them; <xmp> shows its text
# as <pre> does. Their text would reach nh3 as one node (see _Retokenizer.text).
RENAMED = {"xmp": "pre", "iframe": "div", "noembed": "div", "noframes": "div", "textarea": "div"}
PARAGRAPH_CLOSERS = {
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hgroup", "hr", "li", "dd", "dt", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "ul"}
P_SCOPE = {"table", "td", "th", "caption", "button", "marquee", "object", "applet", "template", "html"}
# Start tag → (open elements it closes, elements that stop the search), as the HTML5 tree builder
# closes them implicitly; only the top few open elements are searched, so an unclosed <p> deep in
# inline markup counts as still open: the estimate of depth errs high, never low.
IMPLIED_ENDS = {
    "li": [({"li"}, {"ul", "ol", "menu"})], "dt": [({"dt", "dd"}, {"dl"})], "dd": [({"dt", "dd"}, {"dl"})],
    "option": [({"option"}, {"select", "datalist", "optgroup"})], "optgroup": [({"optgroup", "option"}, {"select"})],
    "tr": [({"tr"}, {"table", "tbody", "thead", "tfoot"})], "td": [({"td", "th"}, {"tr", "table"})],
    "th": [({"td", "th"}, {"tr", "table"})], "tbody": [({"tbody", "thead", "tfoot"}, {"table"})],
    "thead": [({"tbody", "thead", "tfoot"}, {"table"})], "tfoot": [({"tbody", "thead", "tfoot"}, {"table"})],
}
for _tag in PARAGRAPH_CLOSERS:
    IMPLIED_ENDS.setdefault(_tag, []).append(({"p"}, P_SCOPE))
IMPLIED_SEARCH = 16
ESCAPE_RUN = 64
TEXT_RUN = 2048
CAREFUL_TEXT = re.compile("[&<\x00\xa0]")
BEFORE_ESCAPE = re.compile("(?=[&\xa0])")
# Start tags that end SVG/MathML content, and the foreign elements whose content is HTML again.
BREAKOUT = {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed",
            "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta",
            "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup",
            "table", "tt", "u", "ul", "var", "font"}
INTEGRATION_POINTS = {"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"}
_ATTRS = (r"(?:[\t\n\f\r /]++|[^\t\n\f\r />][^\t\n\f\r />=]*+(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"
          r"""(?:"[^"]*+(?:"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >"'][^\t\n\f\r >]*+))?+)*+""")
# One token at a "<", per the HTML5 tokenizer: comment, bogus comment (doctype, <?…>, </ + junk),
# or a tag whose attributes may hold ">" in quotes. All possessive: a failed match costs no rescan.
TOKEN = re.compile(r"<!--(?:>|->|.*?(?:--!?>|\Z))|<[!?][^>]*+(?:>|\Z)|</(?![a-zA-Z])[^>]*+(?:>|\Z)"
                   r"|<(/?)([a-zA-Z][^\t\n\f\r />]*+)(" + _ATTRS + r")(>|\Z)", re.S)
ATTRIBUTE = re.compile(r"""([^\t\n\f\r />][^\t\n\f\r />=]*+)(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"""
                       r"""("[^"]*+"?|'[^']*+'?|[^\t\n\f\r >]*+))?+""")
RAW_END = {name: re.compile(rf"</{name}[\t\n\f\r />]", re.I) for name in RAW_TEXT}


def render(markup: str) -> tuple[str, str, str]:
    """(text, text without quoted history, sanitised markup) of an HTML body, bounded once."""
    bounded = bounded_markup(markup)
    return (*_texts(bounded), _clean(bounded)) if bounded else ("", "", "")


def _clean(bounded: str) -> str:
    return clean(bounded)


def clean(markup: str, own_hosts: frozenset[str] = frozenset()) -> str:
    """Markup safe to show in the admin: no scripts, styles or forms, no relative address
    (`/dashboard?…`, `//host/…`), and images only from the mail itself (cid:, data:) or from a
    plain `http(s)://host/…` address (no backslash, one slash or encoded host a browser would
    resolve to the admin) not on `own_hosts` (the admin's own): an image of a client's mail must
    never make an agent's browser call the admin with their login."""
    return nh3.clean(markup, url_schemes={"http", "https", "mailto", "cid"}, url_relative="deny",
                     attribute_filter=_images_for(own_hosts))


PLAIN_IMAGE_URL = re.compile(r"https?://([A-Za-z0-9.-]{1,253})(?::\d{1,5})?(?:[/?#]|$)", re.I)


@functools.lru_cache(maxsize=16)
def _images_for(hosts: frozenset[str]):
    def keep(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            source = value.strip()
            if source.lower().startswith(("cid:", "data:")):
                return value
            plain = PLAIN_IMAGE_URL.match(source)
            if plain is None or plain.group(1).rstrip(".").lower() in hosts:
                return None
        return value
    return keep


def to_text(markup: str, drop_quotes: bool = False) -> str:
    """Readable text of an HTML body; with drop_quotes, without quoted history and signatures."""
    return to_texts(markup)[1 if drop_quotes else 0]


def to_texts(markup: str) -> tuple[str, str]:
    """(readable text, the same without quoted history and signatures), from one parse."""
    return _texts(bounded_markup(markup)) if markup else ("", "")


def _texts(bounded: str) -> tuple[str, str]:
    # Without mutation events: lexbor re-runs <select>'s option selection on every inserted
    # <option> (quadratic), and nothing here needs what they add to the tree.
    tree = LexborHTMLParser(bounded, options=LexborDocumentOptions.WO_EVENTS)
    quotes = {node.mem_id for node in tree.css(QUOTE_SELECTOR)}
    full, reply = _Flattener(), _Flattener()
    node, depth = tree.root, 0
    dropping = 0  # depth at which the quote container being dropped from the reply opened, or 0
    while node is not None:
        tag = node.tag
        descend = tag not in SKIPPED and tag != "-comment"
        if tag == "-text":  # with the text nodes after it that only comments divide (_Retokenizer.text)
            data = [node.text_content or ""]
            while node.next is not None and node.next.tag in ("-text", "-comment"):
                node = node.next
                data.append(node.text_content or "" if node.tag == "-text" else "")
            full.text("".join(data))
            if not dropping:
                reply.text("".join(data))
        elif descend:
            if not dropping and node.mem_id in quotes and not reply.stopped:
                if (node.attributes.get("id") or "").lower() in STOPS:
                    reply.stopped = True
                else:
                    dropping = depth + 1
            full.start(node)
            if not dropping:
                reply.start(node)
        child = node.first_child if descend else None
        if child is not None:
            node, depth = child, depth + 1
            continue
        while node is not None:  # leave this node and every ancestor it was the last child of
            if node.tag not in SKIPPED and node.tag != "-text":
                full.end(node.tag)
                if not dropping:
                    reply.end(node.tag)
            if dropping == depth + 1:
                dropping = 0
            if depth == 0:
                node = None
            elif node.next is not None:
                node = node.next
                break
            else:
                node, depth = node.parent, depth - 1
    return full.result(), reply.result()


class _Flattener:
    """Text and line breaks of one walk over the tree (block tags, blockquotes as "> ")."""

    def __init__(self):
        self.out: list[str] = []
        self.quote = 0
        self.stopped = False

    def start(self, node) -> None:
        tag = node.tag
        if self.stopped:
            return
        if tag == "blockquote":
            self.quote += 1
            self.out.append("\n")
        elif tag in BLOCKS:
            self.out.append("\n")
        elif tag == "img":
            alt = node.attributes.get("alt")
            if alt:
                self.out.append(f"[{alt}]")

    def end(self, tag: str) -> None:
        if self.stopped:
            return
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self.out.append("\n")
        elif tag in BLOCKS and tag not in VOID:
            self.out.append("\n")

    def text(self, data: str) -> None:
        if self.stopped:
            return
        data = re.sub(r"\s+", " ", data)
        if self.quote and data.strip():
            data = "> " * self.quote + data.strip()
        self.out.append(data)

    def result(self) -> str:
        lines = [line.strip() for line in "".join(self.out).replace("\xa0", " ").split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def bounded_markup(markup: str) -> str:
    """The markup re-tokenised (HTML5 tokenizer rules, one pass): comments dropped, every element
    closed explicitly, start tags deeper than MAX_DEPTH or past MAX_ELEMENTS dropped with their
    end tags (their text stays), at most MAX_ATTRIBUTES attributes a tag, character references
    rewritten. Mail a person wrote comes out meaning the same."""
    state = _Retokenizer()
    pos, size = 0, len(markup)
    while pos < size:
        lt = markup.find("<", pos)
        if lt < 0:
            state.text(markup[pos:])
            break
        if lt > pos:
            state.text(markup[pos:lt])
        token = TOKEN.match(markup, lt)
        if token is None:  # "<" not starting a tag is text
            state.text("<")
            pos = lt + 1
            continue
        pos = token.end()
        closing, name, attributes, closed = token.groups()
        if name is None or not closed:  # comment, doctype, or a tag cut off by the end
            continue
        name = name.lower()
        if name == "plaintext" and not closing:  # all that follows is text: as <pre>, escaped
            if state.start_tag("pre", "")[0]:
                state.text(html.escape(markup[pos:], quote=False))
            break
        name = RENAMED.get(name, name)
        if closing:
            state.end_tag(name)
            continue
        kept, raw = state.start_tag(name, attributes)
        if raw and name in RAW_TEXT:
            end = RAW_END[name].search(markup, pos)
            stop = end.start() if end else size
            if kept and name == "title":  # no comments can split it: short, escaped
                state.out.append(html.escape(html.unescape(markup[pos:min(stop, pos + TITLE_LIMIT)]), quote=False))
            elif kept:  # nh3 drops script and style unread
                state.out.append(markup[pos:stop])
            pos = stop  # a dropped element's raw text goes with it: as markup it would count
    state.flush()
    return "".join(state.out)


class _Retokenizer:
    """What bounded_markup writes, and the open elements as the tree builder will see them: each
    one closed explicitly when it ends, so the two stacks stay in step. Where they cannot, the
    estimate must err deep (an element counted open that is closed), never shallow."""

    def __init__(self):
        self.out: list[str] = []
        self.names: list[str] = []
        self.foreign: list[bool] = []  # SVG or MathML element
        self.open: dict[str, int] = {}
        self.escapes = 0  # characters nh3 writes as &amp; or &nbsp; since the last tag
        self.elements = 0
        self.run = 0  # characters of text since the last comment written
        self.tagged = False  # a tag written since the last text
        self.pending: list[str] = []  # text not written yet: what comes between written tags

    def split(self) -> None:
        """An empty comment: the text before and after it are two nodes (the walk joins them)."""
        self.out.append("<!---->")
        self.run = self.escapes = 0

    def text(self, text: str) -> None:
        self.pending.append(text)

    def flush(self) -> None:
        """Write text (character references rewritten as &amp; &lt; &gt;, the same text), split
        by an empty comment after every ESCAPE_RUN "&" or no-break spaces: html5ever, in nh3, takes
        time quadratic in those of one text node (1 MB of U+00A0: 17 s); and after TEXT_RUN
        characters when a tag came between: lexbor copies a text node to append the text that
        follows a tag it ignores (1 MB of "x<tbody id=5>": 2 s). Text between two written tags is
        written at once (dropped tags in between): ~20 times cheaper than piece by piece."""
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending.clear()
        if self.tagged and self.run > TEXT_RUN:
            self.split()
        self.tagged = False
        self.run += len(text)
        if not CAREFUL_TEXT.search(text):
            self.out.append(text)
            return
        if "&" in text or "<" in text or "\x00" in text:
            text = html.escape(html.unescape(text).replace("\x00", ""), quote=False)
        pieces = BEFORE_ESCAPE.split(text)  # all but the first start with "&" or U+00A0
        room = ESCAPE_RUN - self.escapes
        if len(pieces) - 1 <= room:
            self.escapes += len(pieces) - 1
            self.out.append(text)
            return
        self.out.append("".join(pieces[:room + 1]))
        rest = pieces[room + 1:]
        for start in range(0, len(rest), ESCAPE_RUN):
            self.split()
            self.out.append("".join(rest[start:start + ESCAPE_RUN]))
        self.escapes = len(rest) % ESCAPE_RUN or ESCAPE_RUN

    def in_foreign(self) -> bool:
        """Is the current node an SVG/MathML element whose content is not HTML?"""
        return bool(self.names) and self.foreign[-1] and self.names[-1] not in INTEGRATION_POINTS

    def start_tag(self, name: str, attributes: str) -> tuple[bool, bool]:
        """Write a start tag: (written, is its content raw text: script, style, textarea…)."""
        if name in BREAKOUT and self.in_foreign():  # HTML inside SVG ends the SVG (HTML5 §13.2.6.5)
            while self.in_foreign():
                self.close_down_to(len(self.names) - 1)
        foreign = self.in_foreign() or name in ("svg", "math")
        if not foreign and name in IMPLIED_ENDS:
            self.implied_ends(IMPLIED_ENDS[name])
        # In <select> the tree builder ignores <style>, <xmp>…, so what follows them is markup.
        raw = not foreign and not self.open.get("select")
        if len(self.names) >= MAX_DEPTH or self.elements >= MAX_ELEMENTS:
            return False, raw
        self.elements += 1
        self.flush()
        self.out.append(_start_tag(name, attributes))
        self.escapes, self.tagged = 0, True
        # SVG and MathML honour "/>"; HTML ignores it (a <div/> is open).
        if not (foreign and _is_self_closing(attributes)) and (foreign or name not in VOID):
            self.names.append(name)
            self.foreign.append(foreign)
            self.open[name] = self.open.get(name, 0) + 1
        return True, raw

    def end_tag(self, name: str) -> None:
        if self.open.get(name):
            index = len(self.names) - 1
            while self.names[index] != name:  # as long as the elements it closes: linear overall
                index -= 1
            self.close_down_to(index)
        elif name in ("p", "br"):  # the tree builder makes an empty <p>, or a <br>: a line break
            while self.in_foreign():  # and, inside SVG, first ends the SVG
                self.close_down_to(len(self.names) - 1)
            self.flush()
            self.out.append(f"</{name}>")
            self.escapes, self.tagged = 0, True

    def implied_ends(self, rules) -> None:
        names = self.names
        for closes, scope in rules:
            for tag in closes:
                if self.open.get(tag):
                    break
            else:
                continue
            for index in range(len(names) - 1, max(-1, len(names) - 1 - IMPLIED_SEARCH), -1):
                if names[index] in closes:
                    self.close_down_to(index)
                    break
                if names[index] in scope:
                    break

    def close_down_to(self, index: int) -> None:
        while len(self.names) > index:
            name = self.names.pop()
            self.foreign.pop()
            self.open[name] -= 1
            self.flush()
            self.out.append(f"</{name}>")
            self.escapes, self.tagged = 0, True


def _start_tag(name: str, attributes: str) -> str:
    if len(attributes) <= 2 * MAX_ATTRIBUTES:  # each attribute takes two characters at least
        return f"<{name}{attributes}>"
    kept = []
    for attribute in islice(ATTRIBUTE.finditer(attributes), MAX_ATTRIBUTES):
        value = attribute.group(2)
        if value is None:
            kept.append(attribute.group(1))
            continue
        if value[:1] in ('"', "'"):
            value = value[1:-1] if len(value) > 1 and value.endswith(value[0]) else value[1:]
        kept.append(f'{attribute.group(1)}="{value.replace(chr(34), "&quot;")}"')
    return f"<{name} {' '.join(kept)}>"


def _is_self_closing(attributes: str) -> bool:
    """Does the tag end in "/>"? Not when the "/" ends an unquoted attribute value, which is the
    last attribute running up to the end."""
    if not attributes.endswith("/"):
        return False
    last = deque(ATTRIBUTE.finditer(attributes), maxlen=1)
    return not last or last[0].end() < len(attributes)
