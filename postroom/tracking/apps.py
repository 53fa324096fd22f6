from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "postroom.tracking"
    label = "tracking"
    verbose_name = "Email tracking"

    def ready(self) -> None:
        # Outbound knows nothing of tracking (imports point one way): delivery asks
        # whoever registered for the per-recipient copies of an email.
        from postroom.outbound import delivery

        from .sending import tracked_copies

        delivery.register_copies(tracked_copies)
