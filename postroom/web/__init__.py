"""The server-rendered UI: templates, plain views, htmx where it helps."""
