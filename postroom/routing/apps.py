from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "postroom.routing"
    label = "routing"

    def ready(self) -> None:
        # The SLA clock follows the conversation workflow through its listeners.
        from . import changes, sla  # noqa: F401

        changes.connect()
