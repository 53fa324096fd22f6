"""Webhook settings (settings.WEBHOOKS, from POSTROOM_WEBHOOK_* variables), with defaults."""

from django.conf import settings

DEFAULTS = {
    # Networks a webhook may reach although they are not public (CIDRs), and networks
    # it may never reach although they are.
    "ALLOWED_NETWORKS": [],
    "DENIED_NETWORKS": [],
    # Seconds for the connection and for each read of the answer.
    "TIMEOUT": 5.0,
    # Failed attempts wait RETRY_BASE seconds, doubling up to RETRY_CAP, for RETRY_FOR
    # seconds after the event (a day); then the delivery is marked failed.
    "RETRY_BASE": 30.0,
    "RETRY_CAP": 3600.0,
    "RETRY_FOR": 24 * 3600.0,
}


def config(name: str):
    return getattr(settings, "WEBHOOKS", {}).get(name, DEFAULTS[name])
