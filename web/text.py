"""Names from mail made safe to show and to send back: nothing in them changes how they read."""

from __future__ import annotations

import re
import unicodedata

# Bidirectional controls (Unicode TR #9): embeddings and overrides U+202A–U+202E, isolates
# U+2066–U+2069, the marks U+200E, U+200F and U+061C. "invoice\u202efdp.exe" shows as
# "invoiceexe.pdf"; without its controls it reads "invoicefdp.exe", its real extension.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
REPLACEMENT = "\ufffd"


def visible_name(name: str, default: str = "attachment") -> str:
    """The name without bidi controls, other control characters (C0, DEL, C1, line and paragraph
    separators) shown as U+FFFD, so that something was there stays visible; `default` if nothing
    is left. Joiners (U+200C, U+200D) stay: Persian and emoji spell with them."""
    name = BIDI_CONTROLS.sub("", name)
    name = "".join(REPLACEMENT if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in name)
    return name.strip() or default
