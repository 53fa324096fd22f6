from django.contrib import admin

from .models import Folder, Mailbox, MailboxGrant


class FolderInline(admin.TabularInline):
    model = Folder
    extra = 0
    readonly_fields = ["uidvalidity", "last_uid", "highest_modseq"]


class GrantInline(admin.TabularInline):
    model = MailboxGrant
    extra = 0


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ["address", "name", "kind", "crm_rule", "status", "last_synced_at"]
    exclude = ["password_encrypted"]
    readonly_fields = ["status", "status_message", "last_synced_at"]
    inlines = [FolderInline, GrantInline]
