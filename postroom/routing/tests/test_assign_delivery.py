"""Distribution rules end to end: mail handed to the SMTP ingress, and mail delivered to a
real Dovecot and synced; the jobs run, and the conversation and the lead belong to the
person the rule names."""

import smtplib

import pytest

from postroom import jobs
from postroom.crm.models import Lead
from postroom.mail.models import Conversation, ConversationEvent
from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox, do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing.actions import do_add_rule, do_update_rule
from postroom.sync.ingress import Ingress
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.processes import running, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def colleagues(mailbox, *names):
    found = []
    for name in names:
        user = UserFactory(username=name)
        do_grant_mailbox(mailbox, user, MailboxGrant.Level.READ)
        found.append(user)
    return found


def send(ingress, to: str, emails: list[tuple[str, str]]) -> None:
    with smtplib.SMTP(*ingress.binds["smtp"], timeout=10) as client:
        for sender, subject in emails:
            client.sendmail(sender, [to], make_email(sender=sender, to=to, subject=subject))


def test_a_vip_email_through_the_ingress_is_the_senior_managers_with_its_lead():
    mailbox = MailboxFactory(address="sales@acme.test", crm_rule="lead", owner=UserFactory())
    senior, alice, bob = colleagues(mailbox, "sam", "alice", "bob")
    do_add_rule(mailbox, kind="keyword", keywords="VIP", target_user=senior)
    do_add_rule(mailbox, kind="round-robin", queue_users=[alice, bob])
    emails = [
        ("vip@bigclient.test", "VIP: 400 chairs by Friday"),
        ("anna@customer.test", "Price request"),
        ("ben@customer.test", "Another question"),
    ]
    with Ingress(smtp_bind="127.0.0.1:0", max_message_size=1_000_000) as ingress:
        send(ingress, mailbox.address, emails)
    jobs.drain_embedded_queue()
    owners = {c.subject: c.responsible for c in Conversation.objects.filter(mailbox=mailbox)}
    assert owners == {
        "VIP: 400 chairs by Friday": senior,
        "Price request": alice,
        "Another question": bob,
    }
    leads = {lead.email: lead.responsible for lead in Lead.objects.all()}
    assert leads == {"vip@bigclient.test": senior, "anna@customer.test": alice,
                     "ben@customer.test": bob}  # fmt: skip
    vip = ConversationEvent.objects.get(conversation__subject__startswith="VIP")
    assert "“VIP” in the subject → sam" in vip.detail["reason"]


def test_mail_synced_from_dovecot_goes_to_the_partner_account_manager(dovecot, mail_user):
    mailbox = do_add_mailbox(
        ConnectionSettings(
            address=mail_user.address, name="Sales", imap_host=dovecot.host,
            imap_port=dovecot.imap_port, imap_security="none", username=mail_user.username,
            password=mail_user.password,
        ),
        crm_rule="lead",
    )  # fmt: skip
    (partner_manager,) = colleagues(mailbox, "pam")
    do_add_rule(mailbox, kind="sender", senders="partner.test", target_user=partner_manager)
    dovecot.deliver(
        make_email(sender="Bob <bob@eu.partner.test>", to=mail_user.address, subject="Offer"),
        to=mail_user.address,
    )
    sync_mailbox(mailbox)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get(mailbox=mailbox)
    assert conversation.responsible == partner_manager
    assert Lead.objects.get().responsible == partner_manager


def test_a_rule_changed_while_the_job_runner_runs_decides_its_next_email(live_env, tmp_path):
    """The runner keeps the rules it read (routing.changes): a change made in another
    process (here, the test's) must reach the next email all the same."""
    mailbox = MailboxFactory(address="sales@acme.test", crm_rule="lead", owner=UserFactory())
    senior, alice = colleagues(mailbox, "sam", "alice")
    rule = do_add_rule(mailbox, kind="keyword", keywords="VIP", target_user=alice)

    def responsible_for(subject: str):
        conversation = Conversation.objects.filter(subject=subject).first()
        return conversation and conversation.responsible

    with (
        running(["jobs"], live_env, tmp_path / "runner.log"),
        Ingress(smtp_bind="127.0.0.1:0", max_message_size=1_000_000) as ingress,
    ):
        send(ingress, mailbox.address, [("vip@bigclient.test", "VIP: first order")])
        wait_for(lambda: responsible_for("VIP: first order"), 60, "the first email's owner")
        do_update_rule(rule, target_user=senior)
        send(ingress, mailbox.address, [("vip@bigclient.test", "VIP: second order")])
        wait_for(lambda: responsible_for("VIP: second order"), 60, "the second email's owner")
    assert responsible_for("VIP: first order") == alice
    assert responsible_for("VIP: second order") == senior
