"""Contact.email moves to ContactEmail; the default "Sales" pipeline and the
"Support Request" smart type (the example support@ setup) are created."""

from django.db import migrations

SALES_STAGES = [("New", "open"), ("In progress", "open"), ("Won", "won"), ("Lost", "lost")]
SUPPORT_STAGES = [("New", "open"), ("In progress", "open"), ("Solved", "won"), ("Rejected", "lost")]


def forwards(apps, schema_editor):
    Contact = apps.get_model("crm", "Contact")
    ContactEmail = apps.get_model("crm", "ContactEmail")
    Pipeline = apps.get_model("crm", "Pipeline")
    SmartType = apps.get_model("crm", "SmartType")
    Stage = apps.get_model("crm", "Stage")

    batch = []
    for contact_id, email in Contact.objects.exclude(email="").values_list("pk", "email").iterator():
        batch.append(ContactEmail(contact_id=contact_id, email=email.strip().lower(), is_primary=True))
        if len(batch) >= 1000:
            ContactEmail.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    ContactEmail.objects.bulk_create(batch, ignore_conflicts=True)

    if not Pipeline.objects.exists():
        sales = Pipeline.objects.create(name="Sales", sort=0, is_default=True)
        Stage.objects.bulk_create(
            Stage(pipeline=sales, name=name, sort=i * 10, semantics=semantics)
            for i, (name, semantics) in enumerate(SALES_STAGES)
        )
    if not SmartType.objects.filter(slug="support-request").exists():
        support = SmartType.objects.create(name="Support Request", slug="support-request")
        Stage.objects.bulk_create(
            Stage(smart_type=support, name=name, sort=i * 10, semantics=semantics)
            for i, (name, semantics) in enumerate(SUPPORT_STAGES)
        )


def backwards(apps, schema_editor):
    Contact = apps.get_model("crm", "Contact")
    ContactEmail = apps.get_model("crm", "ContactEmail")
    for contact in Contact.objects.all():
        first = ContactEmail.objects.filter(contact=contact).order_by("-is_primary", "pk").first()
        if first is not None:
            contact.email = first.email
            contact.save(update_fields=["email"])


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_crm_core")]

    operations = [migrations.RunPython(forwards, backwards)]
