from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "postroom.crm"
    label = "crm"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core.signals import setting_changed
        from django.db.models.signals import post_delete, post_save

        from postroom.mailboxes.models import Mailbox

        from . import organisation
        from .models import CrmSettings

        # The internal domains default to the mailboxes' and users' domains: a change to
        # either (or to the settings, or to POSTROOM in a test) drops the cached value.
        for model in (CrmSettings, Mailbox, get_user_model()):
            post_save.connect(
                organisation.invalidate, sender=model, dispatch_uid=f"crm-org-{model}"
            )
            post_delete.connect(
                organisation.invalidate, sender=model, dispatch_uid=f"crm-org-del-{model}"
            )
        setting_changed.connect(organisation.invalidate, dispatch_uid="crm-org-settings")
