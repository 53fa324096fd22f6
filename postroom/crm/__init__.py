"""Contacts, companies, leads, deals, activities, tasks and the timeline."""
