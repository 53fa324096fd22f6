"""The hand-written set-wise writes of the hot paths behave as Django's own would."""

import pytest
from django.db import IntegrityError, transaction

from postroom.crm.models import Contact, ContactEmail
from postroom.mail.bulk import create_objects, select_in
from postroom.testing.factories import CompanyFactory

pytestmark = pytest.mark.django_db


def test_created_objects_get_their_keys_stamps_and_the_keys_of_new_parents():
    company = CompanyFactory()
    people = [Contact(name=f"Person {n}", company=company) for n in range(3)]
    create_objects(people)
    # An email of a contact created a moment before: its key is taken from the object.
    emails = [ContactEmail(contact=p, email=f"p{n}@client.test") for n, p in enumerate(people)]
    create_objects(emails)
    assert all(p.pk and p.created_at and not p._state.adding for p in people)
    stored = Contact.objects.get(pk=people[1].pk)
    assert (stored.name, stored.company_id) == ("Person 1", company.pk)
    assert ContactEmail.objects.get(pk=emails[2].pk).contact_id == people[2].pk


def test_a_conflict_raises_instead_of_leaving_an_object_without_its_row():
    person = Contact(name="Once")
    create_objects([person])
    create_objects([ContactEmail(contact=person, email="once@client.test")])
    with pytest.raises(IntegrityError), transaction.atomic():
        create_objects([ContactEmail(contact=person, email="once@client.test")])


def test_select_in_reads_the_rows_of_many_values_in_chunks():
    people = [Contact(name=f"Reader {n}") for n in range(7)]
    create_objects(people)
    wanted = [p.pk for p in people[:5]] + [999_999]
    rows = select_in(Contact, "id", wanted, ["id", "name"], chunk=2)
    assert sorted(rows) == sorted((p.pk, p.name) for p in people[:5])
