from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "postroom.cli"
    label = "cli"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
