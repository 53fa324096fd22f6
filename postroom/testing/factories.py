"""factory_boy factories for the models tests build most."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from postroom.mailboxes.models import Folder, Mailbox

# Every factory-made user's password: what browser tests type on the login page.
PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@acme.test")
    password = factory.django.Password(PASSWORD)


class MailboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mailbox
        skip_postgeneration_save = True

    address = factory.Sequence(lambda n: f"sales{n}@acme.test")
    name = factory.Sequence(lambda n: f"Sales {n}")
    imap_host = "127.0.0.1"
    imap_port = 143
    imap_security = "none"
    username = factory.LazyAttribute(lambda m: m.address)
    password_encrypted = factory.LazyFunction(lambda: _encrypt("secret"))
    crm_rule = "lead"

    @factory.post_generation
    def inbox(self, create, extracted, **kwargs):
        if create:
            Folder.objects.get_or_create(mailbox=self, name="INBOX", role=Folder.Role.INBOX)


def _encrypt(password: str) -> str:
    from django.conf import settings

    from postroom.lib.secretbox import encrypt

    return encrypt(settings.SECRET_KEY, password)


# ------------------------------------------------------------------------- CRM


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "crm.Company"

    name = factory.Sequence(lambda n: f"Customer {n} Ltd")


class CompanyDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "crm.CompanyDomain"

    company = factory.SubFactory(CompanyFactory)
    domain = factory.Sequence(lambda n: f"customer{n}.test")


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact; `ContactFactory(email="anna@customer.test")` gives it a primary email."""

    class Meta:
        model = "crm.Contact"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Contact {n}")

    @factory.post_generation
    def email(self, create, extracted, **kwargs):
        if create and extracted:
            self.emails.create(email=extracted, is_primary=True)


class ContactEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "crm.ContactEmail"

    contact = factory.SubFactory(ContactFactory)
    email = factory.Sequence(lambda n: f"person{n}@customer.test")
    is_primary = True


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "crm.Lead"

    title = factory.Sequence(lambda n: f"Request {n}")
    name = "Anna"
    email = factory.Sequence(lambda n: f"lead{n}@customer.test")


def _default_pipeline():
    from postroom.crm.models import Pipeline

    return Pipeline.default()


class DealFactory(factory.django.DjangoModelFactory):
    """A deal in the default "Sales" pipeline, in its first stage unless `stage` is given."""

    class Meta:
        model = "crm.Deal"

    title = factory.Sequence(lambda n: f"Deal {n}")
    pipeline = factory.LazyFunction(_default_pipeline)
    stage = factory.LazyAttribute(lambda d: d.pipeline.first_stage())


def client_with_open_deal(name: str, email: str):
    """A known client: a contact with that email, a company, and an open deal of both."""
    contact = ContactFactory(name=name, email=email, company=CompanyFactory())
    DealFactory(title=f"{name}'s order", contact=contact, company=contact.company)
    return contact


class SmartTypeFactory(factory.django.DjangoModelFactory):
    """A smart type with the stages New, In progress (open), Done (won), Dropped (lost)."""

    class Meta:
        model = "crm.SmartType"
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Smart type {n}")
    slug = factory.Sequence(lambda n: f"smart-type-{n}")

    @factory.post_generation
    def stages(self, create, extracted, **kwargs):
        if create and not self.stages.exists():
            for i, (name, semantics) in enumerate(
                [("New", "open"), ("In progress", "open"), ("Done", "won"), ("Dropped", "lost")]
            ):
                self.stages.create(name=name, sort=i * 10, semantics=semantics)


class SmartItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "crm.SmartItem"

    smart_type = factory.SubFactory(SmartTypeFactory)
    title = factory.Sequence(lambda n: f"Item {n}")
    stage = factory.LazyAttribute(lambda i: i.smart_type.first_stage())


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "crm.Task"

    title = factory.Sequence(lambda n: f"Task {n}")


# ------------------------------------------------------------------- roles, departments


class RoleFactory(factory.django.DjangoModelFactory):
    """A role without rights; `RoleFactory(rights={("deal", "read"): 3})` gives some."""

    class Meta:
        model = "accounts.Role"
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Role {n}")

    @factory.post_generation
    def rights(self, create, extracted, **kwargs):
        if create and extracted:
            for (entity, action), scope in extracted.items():
                self.permissions.update_or_create(
                    entity=entity, action=action, defaults={"scope": scope}
                )


class DepartmentFactory(factory.django.DjangoModelFactory):
    """A department (and its group); `DepartmentFactory(members=[alice, bob])`."""

    class Meta:
        model = "accounts.Department"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Department {n}")
    group = factory.LazyAttribute(lambda d: _group(d.name))

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.group.user_set.add(*extracted)


def _group(name: str):
    from django.contrib.auth.models import Group

    return Group.objects.create(name=name)


def default_role(name: str):
    """One of the roles the migrations create: "Manager", "Head of department", "Administrator"."""
    from postroom.accounts.models import Role
    from postroom.accounts.roles import ensure_default_roles

    ensure_default_roles()  # a transactional test's flush empties what migrations made
    return Role.objects.get(name=name)


class ConversationFactory(factory.django.DjangoModelFactory):
    """A conversation without emails (the inbox's tests and benchmark need many, fast)."""

    class Meta:
        model = "mail.Conversation"

    mailbox = factory.SubFactory(MailboxFactory)
    subject = factory.Sequence(lambda n: f"Question {n}")
    last_message_at = factory.LazyFunction(timezone.now)
    last_sender = "anna@customer.test"
    message_count = 1
