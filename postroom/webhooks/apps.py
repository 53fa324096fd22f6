from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "postroom.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # A subscription saved or deleted anywhere in this process clears the cached
        # "anyone listening?" answers at once (other processes within SUBSCRIBERS_TTL).
        from django.db.models.signals import post_delete, post_save

        from .emitting import forget_subscribers
        from .models import Subscription

        post_save.connect(forget_subscribers, sender=Subscription, dispatch_uid="webhooks-save")
        post_delete.connect(forget_subscribers, sender=Subscription, dispatch_uid="webhooks-del")
