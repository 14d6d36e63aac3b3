"""Names from mail made safe to show and to send back: nothing in them changes how they read."""

from __future__ import annotations

import unicodedata

# Names stored before parsing cleaned them may still carry bidi controls (Unicode TR #9):
# "invoice\u202efdp.exe" shows as "invoiceexe.pdf"; without them it reads "invoicefdp.exe".
from mailer.addresses import BIDI_CONTROLS

REPLACEMENT = "\ufffd"
ROW_MAX = 2 ** 63 - 1  # the largest id or number a database column holds


def visible_name(name: str, default: str = "attachment") -> str:
    """The name without bidi controls, other control characters (C0, DEL, C1, line and paragraph
    separators) shown as U+FFFD, so that something was there stays visible; `default` if nothing
    is left. Joiners (U+200C, U+200D) stay: Persian and emoji spell with them."""
    name = BIDI_CONTROLS.sub("", name)
    name = "".join(REPLACEMENT if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in name)
    return name.strip() or default


def row_number(value) -> int | None:
    """An id or ticket number typed in a form or a link: ASCII digits ("²" is a digit to
    str.isdigit, not to int) within what a column holds; else None."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= ROW_MAX else None
