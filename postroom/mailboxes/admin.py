from django.contrib import admin

from .models import Folder, Mailbox, MailboxGrant

# Django's admin only shows mailboxes: they are connected, changed and granted on
# Postroom's own pages (Mailboxes, Settings, Who may use it, My mailboxes), which keep a
# personal mailbox its owner's alone. Here an administrator could otherwise turn one into
# a shared mailbox, grant it to themselves, or change its owner, and read it.


class _ViewOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FolderInline(_ViewOnly, admin.TabularInline):
    model = Folder
    extra = 0
    fields = ["name", "role", "uidvalidity", "last_uid", "highest_modseq"]


class GrantInline(_ViewOnly, admin.TabularInline):
    model = MailboxGrant
    extra = 0


@admin.register(Mailbox)
class MailboxAdmin(_ViewOnly, admin.ModelAdmin):
    list_display = ["address", "name", "kind", "owner", "crm_rule", "status", "last_synced_at"]
    list_filter = ["kind", "status"]
    exclude = ["password_encrypted"]
    inlines = [FolderInline, GrantInline]
