from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .actions import do_give_new_user_roles
from .models import Department, Role, RolePermission, User

# Django's admin is the operator's escape hatch; people manage roles and departments on
# Postroom's own pages (People & roles), which check what is saved.
_user_fieldsets = list(UserAdmin.fieldsets)
_user_fieldsets.append(("CRM", {"fields": ("roles",)}))
_user_fieldsets.append(("Display", {"fields": ("time_zone",)}))


class PostroomUserAdmin(UserAdmin):
    fieldsets = _user_fieldsets
    filter_horizontal = (*UserAdmin.filter_horizontal, "roles")
    # The email is unique and required: asked for when a user is added here too.
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "email",
                    "first_name",
                    "last_name",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # Deactivating asks what happens to a person's personal mailboxes' mail, and
        # hands nothing on silently: that is done on the People page, not by a checkbox.
        return ("is_active",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # a user added here starts like any other: the default roles
            do_give_new_user_roles(obj)


class RolePermissionInline(admin.TabularInline):
    model = RolePermission
    extra = 0


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "is_default")
    inlines = [RolePermissionInline]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "head")


admin.site.register(User, PostroomUserAdmin)
