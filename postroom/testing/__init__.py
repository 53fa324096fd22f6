"""Test helpers that run real mail servers (Dovecot, an SMTP sink) for Postroom's tests."""
