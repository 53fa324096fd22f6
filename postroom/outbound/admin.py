from django.contrib import admin

from .models import (
    Draft,
    MessageTemplate,
    MonthlyUsage,
    OutboundSettings,
    OutboxMessage,
    Signature,
)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["subject", "mailbox", "author", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "mailbox"]
    # The raw bytes are what was (or will be) sent: never edited by hand.
    exclude = ["raw", "composition"]
    readonly_fields = [
        "message_id",
        "recipients",
        "sender",
        "idempotency_key",
        "not_before",
        "bounce",
        "bounce_reason",
    ]


admin.site.register([OutboundSettings, MonthlyUsage, Signature, MessageTemplate])


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ["subject", "mailbox", "author", "kind", "updated_at"]
    list_filter = ["mailbox"]
