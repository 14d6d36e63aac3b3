"""What every form post in the admin does with an action's refusal."""

from __future__ import annotations

from flask import flash

from actions.result import Done, Refused


def attempt(action) -> Done | None:
    """Run one action (`action()`); a refusal is shown to the agent in the check's own words,
    and None returned. Whatever the action queued is the caller's to hand to the workers."""
    try:
        return action()
    except Refused as refused:
        flash(str(refused), "error")
        return None
