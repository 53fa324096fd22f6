"""The Unanswered index (conv_status_waiting) covers the columns every inbox view also
filters on (mailbox, snoozed_until, message_count), as the other inbox indexes do: the
navigation's Unanswered count read a row for each of its up to 1,000 entries (2,000
buffers, half of the counting statement's time at a million messages), and is now an
index-only scan on PostgreSQL. SQLite has no INCLUDE and builds the same index as before.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0014_replied_event_message_index"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="conversation",
            name="conv_status_waiting",
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["status", "waiting_since"],
                include=("mailbox", "snoozed_until", "message_count"),
                name="conv_status_waiting",
            ),
        ),
    ]
