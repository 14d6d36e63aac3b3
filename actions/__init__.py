"""The domain actions: the only code that changes a ticket. Web views, the mail pipeline and the
workers all call these verbs; each runs in one transaction and returns what it queued."""
