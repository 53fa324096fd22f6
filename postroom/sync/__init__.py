"""Talking IMAP: fetching, cursors, the worker loop, and (later) IDLE and the ingress."""
