"""A contact joins the company of its mail domain, as offered on its page (when the
organisation's option does not join it by itself: postroom.crm.editing)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from postroom.crm import editing
from postroom.crm.access import items_for
from postroom.crm.models import Contact

from .crm_views import crm_view


@crm_view
@require_POST
def contact_join_company(request, contact_id: int):
    contact = get_object_or_404(items_for(request.user, Contact), pk=contact_id)
    offer = editing.company_offer(contact)
    if offer is None:
        messages.error(request, "No company has this contact's mail domain (or it has a company).")
        return redirect(contact)
    company, domain = offer
    editing.do_join_company(contact, company, acting_user=request.user, domain=domain)
    messages.success(request, f"{contact} joined {company.name}.")
    return redirect(contact)
