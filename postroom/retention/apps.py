from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "postroom.retention"
    label = "retention"
    verbose_name = "Retention and storage"
