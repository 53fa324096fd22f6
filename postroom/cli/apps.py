from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "postroom.cli"
    label = "cli"
