"""What every form post in the admin does with an action's refusal."""

from __future__ import annotations

from flask import flash
from flask_babel import gettext

from actions.result import Done, Refused
from mailer.reasons import Reason


def attempt(action) -> Done | None:
    """Run one action (`action()`); a refusal is shown to the agent in the check's own words
    (in their language), and None returned. Whatever the action queued is the caller's to hand to the workers."""
    try:
        return action()
    except Refused as refused:
        flash(said(refused), "error")
        return None


def said(refused: Refused) -> str:
    """A refusal in the agent's language (its English when the catalog has no such words)."""
    reason = refused.args[0] if refused.args else ""
    if isinstance(reason, Reason):
        return gettext(reason.template, **reason.values)
    return str(reason)
