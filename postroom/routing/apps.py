from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "postroom.routing"
    label = "routing"
