from django.apps import AppConfig


class TwoFactorConfig(AppConfig):
    name = "postroom.twofactor"
    label = "twofactor"
    verbose_name = "Two-factor authentication"
