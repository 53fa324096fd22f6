"""Conversation.message_count counts the emails its mailbox still holds (it counted
every email ever threaded into it): the list hides a conversation at 0. Recounted once
here, in one UPDATE; from now on deletions keep it (postroom.mail.threads)."""

from django.db import migrations
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_held(apps, schema_editor):
    Conversation = apps.get_model("mail", "Conversation")
    ConversationMessage = apps.get_model("mail", "ConversationMessage")
    MessageCopy = apps.get_model("mail", "MessageCopy")
    held = MessageCopy.objects.filter(
        message_id=OuterRef("message_id"), mailbox_id=OuterRef("mailbox_id")
    )
    counted = (
        ConversationMessage.objects.filter(conversation=OuterRef("pk"))
        .filter(Exists(held))
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Conversation.objects.update(message_count=Coalesce(Subquery(counted), 0))


class Migration(migrations.Migration):
    dependencies = [("mail", "0007_fetched_batches")]

    # Backwards: the counts stay as they are (each still at most the emails threaded).
    operations = [migrations.RunPython(count_held, migrations.RunPython.noop)]
