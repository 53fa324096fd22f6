"""Postroom: a self-hosted shared inbox that turns company mail into CRM work."""
