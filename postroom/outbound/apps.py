from django.apps import AppConfig
from django.db.models.signals import post_save


class OutboundConfig(AppConfig):
    name = "postroom.outbound"
    label = "outbound"

    def ready(self) -> None:
        # mail may not import outbound: a bounce that mail stores is linked to the
        # Outbox row of the email it reports through Message's post_save.
        from postroom.mail.models import Message

        from .bounces import on_message_saved

        post_save.connect(on_message_saved, sender=Message, dispatch_uid="outbound-bounces")
