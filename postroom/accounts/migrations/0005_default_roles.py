"""The default roles, and the default role for everyone already there.

- Manager (given to new users): reads the items of their department, creates items,
  edits and deletes their own.
- Head of department: reads, edits and deletes the items of their department.
- Administrator: everything in the CRM (not the site's administration: that is
  is_superuser).
"smart:*" covers every smart type, present and future, without a row of its own.
"""

from django.db import migrations

ENTITIES = ("lead", "contact", "company", "deal", "smart:*")
NONE, OWN, DEPARTMENT, ALL = 0, 1, 2, 3
ROLES = {
    "Manager": (
        "Reads the department's items, creates items, edits and deletes their own.",
        True,
        {"read": DEPARTMENT, "create": ALL, "edit": OWN, "delete": OWN},
    ),
    "Head of department": (
        "Reads, edits and deletes the items of their department.",
        False,
        {"read": DEPARTMENT, "create": ALL, "edit": DEPARTMENT, "delete": DEPARTMENT},
    ),
    "Administrator": (
        "Everything in the CRM.",
        False,
        {"read": ALL, "create": ALL, "edit": ALL, "delete": ALL},
    ),
}


def forwards(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    RolePermission = apps.get_model("accounts", "RolePermission")
    User = apps.get_model("accounts", "User")
    for name, (description, is_default, scopes) in ROLES.items():
        role, created = Role.objects.get_or_create(
            name=name, defaults={"description": description, "is_default": is_default}
        )
        if not created:
            continue
        RolePermission.objects.bulk_create(
            RolePermission(role=role, entity=entity, action=action, scope=scope)
            for entity in ENTITIES
            for action, scope in scopes.items()
        )
    # Nobody already working loses the CRM on upgrade: they get the default role.
    manager = Role.objects.get(name="Manager")
    through = User.roles.through
    through.objects.bulk_create(
        [
            through(user_id=pk, role_id=manager.pk)
            for pk in User.objects.filter(is_superuser=False).values_list("pk", flat=True)
        ],
        ignore_conflicts=True,
    )


def backwards(apps, schema_editor):
    apps.get_model("accounts", "Role").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_roles_departments")]

    operations = [migrations.RunPython(forwards, backwards)]
