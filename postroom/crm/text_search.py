"""What a CRM text search matches, per item kind: one rule for list pages, boards and
the item pickers."""

from django.db.models import Model, Q

from .models import Company, CompanyDomain, Contact, ContactEmail, Lead


def text_filter(model: type[Model], q: str) -> Q:
    """Items whose name, title, email or domain holds `q` (case-insensitive)."""
    if model is Lead:
        return (
            Q(title__icontains=q)
            | Q(name__icontains=q)
            | Q(email__icontains=q)
            | Q(company_name__icontains=q)
        )
    if model is Contact:
        emails = ContactEmail.objects.filter(email__icontains=q).values("contact")
        return Q(name__icontains=q) | Q(pk__in=emails)
    if model is Company:
        domains = CompanyDomain.objects.filter(domain__icontains=q).values("company")
        return Q(name__icontains=q) | Q(pk__in=domains)
    # Deals and smart items: by title, or by their contact's or company's name or email.
    emails = ContactEmail.objects.filter(email__icontains=q).values("contact")
    return (
        Q(title__icontains=q)
        | Q(contact__name__icontains=q)
        | Q(contact__in=emails)
        | Q(company__name__icontains=q)
    )
