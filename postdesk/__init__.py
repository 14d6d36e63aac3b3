"""Postdesk: an email-driven helpdesk. This package is the composition root."""
