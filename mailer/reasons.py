"""Why something was not done, said in its reader's language.

A `Reason` is English as the string itself (logs, events, the CLI), with its template and values
kept: the admin says it in the agent's language (web/forms.py), and mail to an agent in its
mailbox's language (`said`). The templates live in the admin's catalogs (web/translations;
`make translations` extracts them).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel.support import NullTranslations

CATALOGS = Path(__file__).resolve().parent.parent / "web" / "translations"


class Reason(str):
    template: str
    values: dict

    def __new__(cls, template: str, **values):
        text = super().__new__(cls, template % values if values else template)
        text.template, text.values = template, values
        return text


def said(reason: str, language: str) -> str:
    """The reason in `language` (a catalog's name: "zh"), or as it is when it has no template or
    the catalog no translation of it."""
    if not isinstance(reason, Reason):
        return reason
    translated = _catalog(language).gettext(reason.template)
    return translated % reason.values if reason.values else translated


@functools.lru_cache(maxsize=16)
def _catalog(language: str) -> NullTranslations:
    from babel.support import NullTranslations, Translations  # here: most mail needs no reason said

    return Translations.load(str(CATALOGS), [language.replace("-", "_")]) if language else NullTranslations()
