from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "postroom.mail"
    label = "mail"
