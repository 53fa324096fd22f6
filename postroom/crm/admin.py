from django.contrib import admin

from .models import (
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Deal,
    Lead,
    Pipeline,
    SmartField,
    SmartItem,
    SmartType,
    Stage,
    Task,
)


class CompanyDomainInline(admin.TabularInline):
    model = CompanyDomain
    extra = 0


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "responsible", "created_at"]
    search_fields = ["name", "domains__domain"]
    inlines = [CompanyDomainInline]


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    extra = 0


class ContactPhoneInline(admin.TabularInline):
    model = ContactPhone
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "responsible", "created_at"]
    search_fields = ["name", "emails__email"]
    raw_id_fields = ["company"]
    inlines = [ContactEmailInline, ContactPhoneInline]


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["title", "email", "status", "responsible", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "email", "name"]
    raw_id_fields = ["converted_contact", "converted_company", "converted_deal"]


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = ["name", "sort", "semantics"]


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "sort", "is_default"]
    inlines = [StageInline]


class SmartFieldInline(admin.TabularInline):
    model = SmartField
    extra = 0


@admin.register(SmartType)
class SmartTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [StageInline, SmartFieldInline]


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = ["title", "pipeline", "stage", "contact", "company", "responsible", "amount"]
    list_filter = ["pipeline", "stage"]
    search_fields = ["title"]
    raw_id_fields = ["contact", "company", "lead"]


@admin.register(SmartItem)
class SmartItemAdmin(admin.ModelAdmin):
    list_display = ["title", "smart_type", "stage", "contact", "responsible"]
    list_filter = ["smart_type"]
    search_fields = ["title"]
    raw_id_fields = ["contact", "company"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "responsible", "deadline", "done_at"]


# Activities and timeline entries are not here: an activity points at its email, whose
# picker would list every email's subject, those of personal mailboxes too (which are
# their owners' alone). Timelines are shown, with those rules, on the items' pages.
admin.site.register(Stage)
