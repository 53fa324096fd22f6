from django.contrib import admin

from .models import MonthlyUsage, OutboundSettings

# What people write (drafts, the Outbox, signatures, templates) is not in Django's admin:
# Postroom's own pages show each to those it belongs to, and a personal mailbox's drafts
# and sent mail are its owner's alone, administrators included. Sending options are set on
# a mailbox's Settings page (or `postroom mailbox update --no-save-to-sent`); the admin
# only shows them and the month's count.


class _ViewOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboundSettings)
class OutboundSettingsAdmin(_ViewOnly):
    list_display = ["mailbox", "save_to_sent"]


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(_ViewOnly):
    list_display = ["month", "sent"]
