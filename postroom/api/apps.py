from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "postroom.api"
    label = "api"
    verbose_name = "REST API"
