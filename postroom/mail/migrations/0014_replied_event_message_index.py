"""An index for a CRM timeline's reply waits (postroom.mail.workflow.reply_waits).

The timeline asks, for up to 200 outgoing emails, for their "replied" events by the
message id in the event's detail JSON; without an index that reads every reply event
ever recorded, on every page. The index is an expression index on `detail -> 'message'`
of the replied events, PostgreSQL only: SQLite is the embedded, small-scale database,
where reading the events is cheap, and the index is not in the models' state, so that
neither database sees a model change.
"""

from django.db import migrations

INDEX = "conv_event_replied_message"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON mail_conversationevent "
            "((detail -> 'message')) WHERE kind = 'replied'"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0013_first_reply_and_dashboard_indexes"),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
