"""Mailbox, MailboxGrant, Folder, connection settings and encrypted secrets."""
