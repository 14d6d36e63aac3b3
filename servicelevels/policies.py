"""Which service-level policy a ticket runs by: the first configured one that matches."""

from __future__ import annotations


def choose(policies, *, tier: str, priority: str, category: str, mailbox: str):
    """The first policy whose every non-empty list holds the ticket's value (the config's last
    policy matches everything)."""
    for policy in policies:
        if ((not policy.tiers or tier in policy.tiers) and (not policy.priorities or priority in policy.priorities)
                and (not policy.categories or category in policy.categories)
                and (not policy.mailboxes or mailbox.lower() in (m.lower() for m in policy.mailboxes))):
            return policy
    return policies[-1]


def targets(policy) -> dict[str, int]:
    return {"first_response": policy.first_response_minutes, "next_response": policy.next_response_minutes,
            "resolution": policy.resolution_minutes}
