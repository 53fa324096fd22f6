from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Department, Role, RolePermission, User

# Django's admin is the operator's escape hatch; people manage roles and departments on
# Postroom's own pages (People & roles), which check what is saved.
_user_fieldsets = list(UserAdmin.fieldsets)
_user_fieldsets.append(("CRM", {"fields": ("roles",)}))


class PostroomUserAdmin(UserAdmin):
    fieldsets = _user_fieldsets
    filter_horizontal = (*UserAdmin.filter_horizontal, "roles")


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
