"""The full-text search index (postroom.mail.search), one table per database vendor.

SQLite: an FTS5 table; PostgreSQL: a side table of tsvectors with a GIN index. Both are
raw SQL, unknown to the ORM, and keyed by message id without a foreign key (see the
docstring of postroom/mail/search.py for why). The DDL is written out here, not
imported, so that this migration stays what it was when later code changes.

Existing messages are indexed by `postroom reindex`, not here: a data migration would
need today's indexing code, which a later schema may no longer fit.
"""

from django.db import migrations

SQLITE = [
    # Words arrive folded and split by postroom.mail.search.words(); unicode61 with
    # remove_diacritics 2 agrees with that and catches anything written here directly.
    "CREATE VIRTUAL TABLE mail_search USING fts5("
    "subject, sender, recipients, attachments, body, "
    "tokenize = 'unicode61 remove_diacritics 2')",
]

POSTGRESQL = [
    # document: every word, matched through the GIN index; summary: the few words that
    # ts_rank reads (subject, addresses, attachment names, the start of the body).
    "CREATE TABLE mail_search (message_id bigint PRIMARY KEY, "
    "document tsvector NOT NULL, summary tsvector NOT NULL)",
    "CREATE INDEX mail_search_document ON mail_search USING gin (document)",
]


def create_index(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(schema_editor.connection.vendor)
    if statements is None:
        raise RuntimeError("Postroom's search needs SQLite or PostgreSQL")
    for sql in statements:
        schema_editor.execute(sql)


def drop_index(apps, schema_editor):
    schema_editor.execute("DROP TABLE IF EXISTS mail_search")


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0003_rawmessage_message_truncated_size"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
