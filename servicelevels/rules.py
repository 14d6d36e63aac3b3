"""Config rules that sort customers into tiers and tickets into categories (pure)."""

from __future__ import annotations


def tier_for(rules, default: str, address: str, organisation: str = "") -> str:
    """The tier of the first rule matching the address's domain (or a parent domain of it) or the
    organisation (case-insensitive); else `default`."""
    domain = address.rpartition("@")[2].lower()
    for rule in rules:
        if any(domain == d.lower() or domain.endswith("." + d.lower()) for d in rule.domains):
            return rule.tier
        if organisation and organisation.casefold() in (o.casefold() for o in rule.organisations):
            return rule.tier
    return default


def category_for(rules, subject: str, text: str, mailbox: str) -> str:
    """The category of the first rule whose keyword is in the subject or the text, or whose
    mailbox the mail came to; "" when none matches. Keywords match case-insensitively anywhere
    (Chinese has no word boundaries); the text is read up to its first 20,000 characters."""
    haystack = f"{subject}\n{text[:20_000]}".casefold()
    for rule in rules:
        if mailbox.lower() in (m.lower() for m in rule.mailboxes):
            return rule.category
        if any(k.casefold() in haystack for k in rule.keywords if k):
            return rule.category
    return ""
