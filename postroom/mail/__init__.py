"""Message, MessageCopy, Conversation: parsing, deduplication, threading, quarantine."""
