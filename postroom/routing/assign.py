"""Routing a captured batch: one decision per conversation (or email), shared by the
conversation and the CRM items the email created, in the capture's transaction.

    router = Router.load(mailbox)               # the mailbox's rules, read once
    router.prepare(messages)                    # their conversations (and clients)
    results = capture_messages(messages, mailbox, responsible=router.responsible)
    router.assign_conversations(messages, results)

`responsible` is the hook capture calls for each new lead, contact, deal or smart item:
capture (crm) does not import routing; the pipeline hands it this. A conversation that
already has a responsible person keeps them, and its new items go to them too.
"""

import logging

from postroom.mail.models import Conversation, ConversationMessage, Message
from postroom.mail.workflow import do_assign_new
from postroom.mailboxes.models import Mailbox

from .roundrobin import HeldTurns
from .rules import Decision, RuleSet

logger = logging.getLogger(__name__)

# Conversations named in the one line that says a batch's were left unassigned.
LOGGED_IDS = 20


class Router:
    def __init__(self, mailbox: Mailbox, rules: RuleSet) -> None:
        self.mailbox = mailbox
        self.rules = rules
        self.conversations: dict[int, Conversation] = {}  # by message id, shared instances
        self.decisions: dict[tuple[str, int], Decision] = {}
        self.contacts: dict[str, object] = {}

    @classmethod
    def load(cls, mailbox: Mailbox) -> "Router":
        return cls(mailbox, RuleSet.load(mailbox))

    @property
    def needs_body(self) -> bool:
        """Whether a keyword rule reads bodies (else capture may defer them)."""
        return self.rules.needs_body

    def prepare(self, messages: list[Message]) -> None:
        """Read what the batch needs; from here on the caller's transaction holds the
        round-robin locks the batch takes, until it commits."""
        self.rules.held = HeldTurns()
        links = ConversationMessage.objects.filter(
            mailbox=self.mailbox, message__in=[m.pk for m in messages]
        ).select_related("conversation__responsible")
        shared: dict[int, Conversation] = {}
        for link in links:
            conversation = shared.setdefault(link.conversation_id, link.conversation)
            conversation.mailbox = self.mailbox  # do_assign names it: not read again
            self.conversations[link.message_id] = conversation
        if self.rules.needs_contact:
            from postroom.crm.senders import Directory

            addresses = {m.from_address for m in messages if m.from_address}
            directory = Directory.lookup(addresses)
            self.contacts = {a: directory.contact(a) for a in addresses}

    def decision(self, message: Message, contact=None) -> Decision:
        """The rules' decision for this email's conversation, taken once."""
        conversation = self.conversations.get(message.pk)
        key = ("conversation", conversation.pk) if conversation else ("message", message.pk)
        if key not in self.decisions:
            if contact is None or getattr(contact, "pk", None) is None:
                contact = self.contacts.get(message.from_address) or contact
            try:
                self.decisions[key] = self.rules.decide(message, contact=contact)
            except Exception as exc:  # a broken rule must never leave the mail stuck
                logger.exception("routing message %s failed; the mailbox's default", message.pk)
                self.decisions[key] = self.rules.default([f"routing failed: {exc!r}"])
        return self.decisions[key]

    def responsible(self, message: Message, contact=None):
        """capture's hook: who is responsible for a CRM item this email creates."""
        conversation = self.conversations.get(message.pk)
        current = conversation.responsible if conversation else None
        if current is not None and current.is_active:
            return current
        return self.decision(message, contact).user

    def assign_conversations(self, messages: list[Message], results: dict) -> int:
        """Give each new customer conversation of the batch its responsible person, all
        at once (do_assign_new); returns how many were assigned."""
        assignments = []
        unassigned: dict[str, list[int]] = {}  # reason -> conversations
        for message in messages:
            result = results.get(message.pk)
            conversation = self.conversations.get(message.pk)
            if result is None or result.direction != "in" or conversation is None:
                continue  # outgoing mail, or not threaded (quarantined)
            if conversation.responsible_id is not None:
                continue  # someone is on it already
            decision = self.decision(message)
            if decision.user is None:
                unassigned.setdefault(decision.reason, []).append(conversation.pk)
                continue
            assignments.append((conversation, decision.user, decision.reason))
        for reason, conversations in unassigned.items():
            _log_unassigned(conversations, reason)
        if self.rules.held is not None:
            # The batch's turns, in its transaction; a later decision writes its own.
            self.rules.held.flush()
            self.rules.held = None
        try:
            return do_assign_new(assignments)
        except Exception:  # its savepoint is rolled back; the capture stays
            logger.exception("assigning %s conversation(s) failed", len(assignments))
            return 0


def _log_unassigned(conversations: list[int], reason: str) -> None:
    """One line per reason and batch: a first sync of a mailbox without rules left
    10,000 conversations unassigned, and a line each cost 0.1 ms of the 2 an email took."""
    if len(conversations) == 1:
        logger.warning("conversation %s left unassigned: %s", conversations[0], reason)
        return
    shown = ", ".join(map(str, conversations[:LOGGED_IDS]))
    more = f" and {len(conversations) - LOGGED_IDS} more" if len(conversations) > LOGGED_IDS else ""
    logger.warning(
        "%s conversations left unassigned: %s (%s%s)", len(conversations), reason, shown, more
    )
