from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="subscriptions"),
    path("<int:subscription_id>/", views.subscription_detail, name="subscription"),
    path("<int:subscription_id>/switch/", views.subscription_switch, name="switch"),
    path("<int:subscription_id>/secret/", views.subscription_secret, name="secret"),
    path("<int:subscription_id>/test/", views.subscription_test, name="test"),
    path("deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery"),
    path("deliveries/<int:delivery_id>/again/", views.delivery_again, name="again"),
]
