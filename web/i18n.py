"""The admin in English and 简体中文 (flask-babel): each agent's choice, else their browser's; dates
in the agent's time zone. Catalogs: web/translations/ (`make translations` extracts and compiles)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import g, request
from flask_babel import Babel, get_locale, lazy_gettext

LANGUAGES = {"": "browser", "en": "English", "zh": "简体中文"}
COMMON_ZONES = ("UTC", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
                "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Los_Angeles")


def known_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", a folder of tzdata's
        return False
    return True


def _locale() -> str:
    agent = g.get("agent")
    if agent is not None and agent.language in ("en", "zh"):
        return agent.language
    return request.accept_languages.best_match(["en", "zh"]) or "en"


def _timezone() -> str:
    agent = g.get("agent")
    return agent.timezone if agent is not None and agent.timezone else "UTC"


def when(value: dt.datetime | None, seconds: bool = False) -> str:
    """A stored (naive UTC) time in the agent's time zone: "2026-12-02 18:05" (digits in every
    language; a queue page shows a hundred, so no Babel pattern per call)."""
    if value is None:
        return "—"
    local = value.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(_timezone()))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def init_app(app) -> None:
    Babel(app, locale_selector=_locale, timezone_selector=_timezone)
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals.update(locale=lambda: str(get_locale()), zone=_timezone, label=label, mail_state=mail_state)


# The values the admin shows (statuses, priorities, clock states…), each translated where shown.
VALUES = {
    "new": lazy_gettext("new"), "open": lazy_gettext("open"), "pending": lazy_gettext("pending"),
    "resolved": lazy_gettext("resolved"), "closed": lazy_gettext("closed"),
    "low": lazy_gettext("low"), "normal": lazy_gettext("normal"), "high": lazy_gettext("high"),
    "urgent": lazy_gettext("urgent"),
    "running": lazy_gettext("running"), "paused": lazy_gettext("paused"), "met": lazy_gettext("met"),
    "breached": lazy_gettext("breached"),
    "first_response": lazy_gettext("first response"), "next_response": lazy_gettext("next response"),
    "resolution": lazy_gettext("resolution"),
    "customer": lazy_gettext("customer"), "agent_reply": lazy_gettext("agent reply"), "note": lazy_gettext("note"),
    "automatic": lazy_gettext("automatic"),
    "queued": lazy_gettext("queued"), "sent": lazy_gettext("sent"), "failed": lazy_gettext("failed"),
    "dead": lazy_gettext("dead"),
    "sending": lazy_gettext("sending"), "scheduled": lazy_gettext("scheduled"), "cancelled": lazy_gettext("cancelled"),
    "skipped": lazy_gettext("skipped"), "temporary": lazy_gettext("temporary"), "permanent": lazy_gettext("permanent"),
    "complained": lazy_gettext("complained"), "quarantined": lazy_gettext("quarantined"),
    "rejected": lazy_gettext("rejected"), "received": lazy_gettext("received"), "processed": lazy_gettext("processed"),
    "email": lazy_gettext("email"), "web": lazy_gettext("web"), "worker": lazy_gettext("worker"),
    "cli": lazy_gettext("cli"), "system": lazy_gettext("system"),
}


def label(value) -> str:
    """A stored value as the agent reads it (unknown ones, e.g. configured tier names, as they are)."""
    return str(VALUES.get(value, value)) if value not in (None, "") else "—"


def mail_state(state: str) -> str:
    """An outgoing mail's state: "pending" is queued there, not a ticket waiting on its client."""
    return label("queued" if state == "pending" else state)
