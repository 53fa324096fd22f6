"""Search: what it finds, what it never shows, and input it must survive.

Written against the public interface only, so the same tests run on SQLite (FTS5) and on
PostgreSQL (tsvector): `DATABASE_URL=postgres://... pytest` runs them there.
"""

import io
import itertools
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection

from postroom.crm.actions import (
    do_bind_activity,
    do_create_lead_from_message,
    do_record_email_activity,
)
from postroom.mail import search as search_module
from postroom.mail.ingest import FetchedMessage, store_copy
from postroom.mail.models import Conversation, Message, with_unread
from postroom.mail.search import (
    Fragment,
    Query,
    Term,
    html_text,
    index_message,
    parse_query,
    reindex,
    search,
    snippet,
    words,
)
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder, Mailbox, MailboxGrant
from postroom.pipeline import ingest
from postroom.testing.factories import DealFactory, MailboxFactory, UserFactory
from postroom.testing.mail import make_email

HOSTILE = [
    '"',
    '""',
    '"""',
    "AND OR (",
    "OR",
    "NOT",
    "-",
    "--",
    "- -x",
    "*",
    "a*",
    "(",
    ")",
    "^",
    ":",
    "subject:",
    "body:price",
    "NEAR(a b, 2)",
    "'",
    "''",
    "\\",
    "!",
    "&",
    "|",
    "<->",
    "a <-> b",
    "price & !cost | (x",
    "'price':*",
    "%",
    "_",
    "\x00",
    "\u202e",
    "🙂",
    "a" * 5000,
    " ".join(["w"] * 500),
    "OR price OR",
    "-price",
    '-"',
    "x' OR '1'='1",
    "; DROP TABLE mail_message; --",
]

_uids = itertools.count(1)


def deliver(mailbox: Mailbox, *, folder: Folder | None = None, seen: bool = False, **email):
    """Store a message in the mailbox and run the ingest job on it, as sync does."""
    return deliver_raw(mailbox, make_email(**email), folder=folder, seen=seen)


def deliver_raw(mailbox: Mailbox, raw: bytes, *, folder: Folder | None = None, seen=False):
    folder = folder or mailbox.folders.get(name="INBOX")
    flags = ("\\Seen",) if seen else ()
    copy = store_copy(folder, 1, FetchedMessage(uid=next(_uids), raw=raw, flags=flags))
    ingest.call([copy.message_id], mailbox.pk)
    return Message.objects.get(pk=copy.message_id)


def with_attachment(subject: str, filename: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "anna@customer.test", "sales@acme.test", subject
    msg["Message-ID"] = f"<{next(_uids)}.file@customer.test>"
    msg.set_content("Please find it attached.")
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes()


def with_inline_logo(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "news@shop.test", "sales@acme.test", subject
    msg["Message-ID"] = f"<{next(_uids)}.logo@shop.test>"
    msg.set_content("Our news")
    msg.add_alternative('<p>Our news</p><img src="cid:logo@shop.test">', subtype="html")
    msg.get_payload()[1].add_related(
        b"GIF89a", maintype="image", subtype="gif", cid="<logo@shop.test>", filename="logo.gif"
    )
    return msg.as_bytes()


def found(user, query: str = "", **filters) -> list[str]:
    """Subjects of the results, best first."""
    return [hit.message.subject for hit in search(user, query, **filters).hits]


def index_size() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {search_module.INDEX_TABLE}")  # noqa: S608
        return cursor.fetchone()[0]


# ----------------------------------------------------------------------- pure parts


def test_words_ignore_case_and_diacritics():
    assert words("Café CRÈME, Straße — Ёлка") == ["cafe", "creme", "strasse", "елка"]


def test_words_split_addresses_and_file_names_like_the_index():
    assert words("Anna <anna.k@customer.test>") == ["anna", "anna", "k", "customer", "test"]
    assert words("invoice_2024-03.pdf") == ["invoice", "2024", "03", "pdf"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Re: Order #1234 -- INVOICE_2024-03.pdf (anna.k@customer.test)\r\n\tTotal: $9.99!",
        "x" * 101 + " kept " + "y" * 100 + " " + "Z" * 150,
        "tab\there\x00nul\x7fdel ~`'\"[]{}|\\^",
        "Café CRÈME, Straße — Ёлка and plain words",  # not ASCII: the regex path
    ],
)
def test_a_column_holds_the_same_words_by_either_path(text):
    assert search_module._indexed(text) == " ".join(words(text))


def test_it_parses_words_phrases_exclusions_and_or():
    query = parse_query('price "red chairs" -spam offer OR quote')
    assert query.groups == (
        (Term(("price",), prefix=True),),
        (Term(("red", "chairs")),),
        (Term(("offer",), prefix=True), Term(("quote",), prefix=True)),
    )
    assert query.excluded == (Term(("spam",), prefix=True),)


def test_a_short_word_is_not_a_prefix():
    assert parse_query("ab").groups == ((Term(("ab",)),),)


def test_an_address_is_a_phrase_of_its_words():
    assert parse_query("anna@customer.test").groups == (
        (Term(("anna", "customer", "test"), prefix=True),),
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_parses_to_plain_words(text):
    query = parse_query(text)
    for term in (*query.shown_terms, *query.excluded):
        assert all(w.isalnum() for w in term.words)
    assert len(query.shown_terms) + len(query.excluded) <= search_module.QUERY_TERMS


def test_a_snippet_marks_the_matches_around_the_first_one():
    body = "Intro. " * 50 + "We would like a quote for <b>red</b> chairs, please."
    fragments = snippet(body, parse_query("chair"))
    assert fragments[0] == Fragment("… ")
    assert Fragment("chairs", hit=True) in fragments
    assert "<b>red</b>" in "".join(f.text for f in fragments)  # text, escaped when shown


def test_a_snippet_without_a_match_is_the_start_of_the_body():
    assert "".join(f.text for f in snippet("Hello there", Query())) == "Hello there"


def test_html_text_keeps_what_a_reader_sees():
    text = html_text(
        "<html><head><style>p{color:red}</style><title>T</title></head>"
        "<body><p>Caf&eacute;</p><p>menu</p><script>alert(1)</script>&lt;b&gt;</body></html>"
    )
    assert text.split() == ["Café", "menu", "<b>"]


# ----------------------------------------------------------------------- with the database


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales", address="sales@acme.test")


@pytest.fixture
def reader(mailbox):
    user = UserFactory(username="reader")
    do_grant_mailbox(mailbox, user)
    return user


@pytest.mark.django_db
class TestFinding:
    def test_it_finds_a_message_by_a_subject_word(self, mailbox, reader):
        deliver(mailbox, subject="Quarterly invoice", body="See attached.")
        deliver(mailbox, subject="Lunch", body="Pizza?")
        assert found(reader, "quarterly") == ["Quarterly invoice"]

    def test_it_finds_a_message_by_a_body_word(self, mailbox, reader):
        deliver(mailbox, subject="Hello", body="We need forty ergonomic chairs by May.")
        assert found(reader, "ergonomic") == ["Hello"]

    def test_it_finds_an_html_only_message_by_its_visible_text(self, mailbox, reader):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@customer.test", mailbox.address, "Newsletter"
        msg["Message-ID"] = "<html-only@customer.test>"
        msg.set_content("<p>Spring <b>discounts</b></p><style>.x{}</style>", subtype="html")
        deliver_raw(mailbox, msg.as_bytes())
        assert found(reader, "discounts") == ["Newsletter"]
        assert found(reader, "style") == []

    def test_it_finds_a_message_by_its_sender(self, mailbox, reader):
        deliver(mailbox, subject="From Anna", sender="Anna Kowalska <anna@customer.test>")
        deliver(mailbox, subject="From Bob", sender="Bob <bob@other.test>")
        assert found(reader, "anna@customer.test") == ["From Anna"]
        assert found(reader, "customer.test") == ["From Anna"]
        assert found(reader, "kowalska") == ["From Anna"]

    def test_it_finds_a_message_by_a_recipient(self, mailbox, reader):
        deliver(mailbox, subject="To Carol", to="carol@partner.test, sales@acme.test")
        deliver(mailbox, subject="Cc Dave", headers={"Cc": "dave@partner.test"})
        assert found(reader, "carol@partner.test") == ["To Carol"]
        assert found(reader, "dave") == ["Cc Dave"]

    def test_it_finds_a_message_by_an_attachment_name(self, mailbox, reader):
        deliver_raw(mailbox, with_attachment("Documents", "Rechnung_März-2024.pdf"))
        deliver_raw(mailbox, with_inline_logo("Newsletter"))
        assert found(reader, "rechnung") == ["Documents"]
        assert found(reader, "marz 2024") == ["Documents"]
        assert found(reader, "Rechnung_März-2024.pdf") == ["Documents"]
        assert found(reader, "logo") == []  # inline images are not attachments

    def test_it_ignores_case_and_diacritics(self, mailbox, reader):
        deliver(mailbox, subject="Café Crème order", body="Ärger über die Lieferung")
        assert found(reader, "cafe creme") == ["Café Crème order"]
        assert found(reader, "CAFÉ") == ["Café Crème order"]
        assert found(reader, "arger uber") == ["Café Crème order"]

    def test_a_bare_word_matches_longer_words_a_quoted_one_does_not(self, mailbox, reader):
        deliver(mailbox, subject="Invoices for March")
        assert found(reader, "invoice") == ["Invoices for March"]
        assert found(reader, '"invoice"') == []

    def test_a_phrase_matches_its_words_in_order(self, mailbox, reader):
        deliver(mailbox, subject="red chairs and blue tables")
        assert found(reader, '"red chairs"') == ["red chairs and blue tables"]
        assert found(reader, '"chairs red"') == []
        assert found(reader, "chairs red") == ["red chairs and blue tables"]

    def test_every_word_must_match_unless_joined_by_or(self, mailbox, reader):
        deliver(mailbox, subject="chairs offer")
        deliver(mailbox, subject="tables offer")
        assert found(reader, "chairs tables") == []
        assert sorted(found(reader, "chairs OR tables")) == ["chairs offer", "tables offer"]

    def test_an_excluded_word_removes_results(self, mailbox, reader):
        deliver(mailbox, subject="chairs offer")
        deliver(mailbox, subject="chairs complaint")
        assert found(reader, "chairs -complaint") == ["chairs offer"]
        assert found(reader, "-complaint", mailbox=mailbox) == ["chairs offer"]

    def test_a_subject_match_ranks_above_a_body_match(self, mailbox, reader):
        deliver(mailbox, subject="Re: hello", body="about the warranty of the chairs")
        deliver(mailbox, subject="Warranty claim", body="hello")
        assert found(reader, "warranty") == ["Warranty claim", "Re: hello"]

    def test_newest_first_when_asked(self, mailbox, reader):
        now = datetime.now(UTC)
        deliver(mailbox, subject="Warranty claim", date=now - timedelta(days=3))
        deliver(mailbox, subject="about warranty", body="warranty", date=now)
        assert found(reader, "warranty", order="newest") == ["about warranty", "Warranty claim"]

    def test_a_hit_carries_its_mailbox_conversation_and_highlights(self, mailbox, reader):
        message = deliver(mailbox, subject="Price request", body="What does the sofa cost?")
        hit = search(reader, "sofa").hits[0]
        assert hit.message == message
        assert hit.mailboxes == [mailbox]
        assert hit.conversation_id == message.conversationmessage_set.get().conversation_id
        assert Fragment("sofa", hit=True) in hit.snippet
        assert not any(f.hit for f in hit.subject)

    def test_it_pages_through_results(self, mailbox, reader):
        for n in range(5):
            deliver(mailbox, subject=f"chairs {n}")
        first = search(reader, "chairs", limit=2)
        last = search(reader, "chairs", limit=2, offset=4)
        assert (first.total, len(first.hits), first.has_next) == (5, 2, True)
        assert (last.total, len(last.hits), last.has_next) == (5, 1, False)
        assert search(reader, "chairs", limit=2, offset=10).total == 5

    def test_nothing_is_searched_without_words_or_filters(self, mailbox, reader):
        deliver(mailbox, subject="anything")
        assert search(reader, "   ").total == 0


@pytest.mark.django_db
class TestFilters:
    def test_it_filters_by_mailbox(self, mailbox, reader):
        other = MailboxFactory(name="Support")
        do_grant_mailbox(other, reader)
        deliver(mailbox, subject="chairs in sales")
        deliver(other, subject="chairs in support")
        assert found(reader, "chairs", mailbox=other) == ["chairs in support"]
        assert found(reader, "", mailbox=mailbox.pk) == ["chairs in sales"]

    def test_it_filters_by_folder(self, mailbox, reader):
        archive = Folder.objects.create(mailbox=mailbox, name="Archive", role="archive")
        deliver(mailbox, subject="chairs in inbox")
        deliver(mailbox, subject="chairs archived", folder=archive)
        assert found(reader, "chairs", folder=archive) == ["chairs archived"]

    def test_spam_and_trash_are_searched_only_when_chosen(self, mailbox, reader):
        spam = Folder.objects.create(mailbox=mailbox, name="Junk", role=Folder.Role.SPAM)
        deliver(mailbox, subject="chairs for free", folder=spam)
        assert found(reader, "chairs") == []
        assert found(reader, "chairs", folder=spam) == ["chairs for free"]

    def test_it_filters_unread_and_read(self, mailbox, reader):
        deliver(mailbox, subject="chairs unread")
        deliver(mailbox, subject="chairs read", seen=True)
        assert found(reader, "chairs", status="unread") == ["chairs unread"]
        assert found(reader, "chairs", status="read") == ["chairs read"]

    def test_unread_is_about_the_mailboxes_searched(self, mailbox, reader):
        other = MailboxFactory(name="Support")
        do_grant_mailbox(other, reader)
        raw = make_email(subject="chairs twice")
        deliver_raw(mailbox, raw, seen=True)
        deliver_raw(other, raw)
        assert found(reader, "chairs", status="unread") == ["chairs twice"]
        assert found(reader, "chairs", status="unread", mailbox=mailbox) == []
        assert found(reader, "chairs", status="read", mailbox=mailbox) == ["chairs twice"]

    def test_it_filters_quarantined_messages(self, mailbox, reader):
        deliver_raw(mailbox, b"\x00\x01 not an email")
        deliver(mailbox, subject="fine")
        results = search(reader, "", status="quarantined")
        assert [h.message.status for h in results.hits] == [Message.Status.QUARANTINED]

    def test_it_filters_by_date(self, mailbox, reader):
        deliver(mailbox, subject="chairs old", date=datetime(2024, 1, 10, tzinfo=UTC))
        deliver(mailbox, subject="chairs new", date=datetime(2024, 3, 10, tzinfo=UTC))
        since, until = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
        assert found(reader, "chairs", since=since) == ["chairs new"]
        assert found(reader, "chairs", until=until) == ["chairs old"]
        assert found(reader, "chairs", since=since, until=until) == []

    def test_it_filters_by_the_responsible_person_of_the_crm_item(self, mailbox, reader):
        manager = UserFactory(username="manager")
        mine = deliver(mailbox, subject="chairs lead", sender="new@customer.test")
        deliver(mailbox, subject="chairs other", sender="else@customer.test")
        lead = do_create_lead_from_message(mine, mailbox)
        lead.responsible = manager
        lead.save()
        assert found(reader, "chairs", responsible=manager) == ["chairs lead"]
        assert found(reader, "", responsible=manager) == ["chairs lead"]
        assert found(reader, "chairs", responsible=reader) == []

    def test_it_filters_by_the_responsible_person_of_a_deal_the_email_is_on(self, mailbox, reader):
        manager = UserFactory(username="manager")
        mine = deliver(mailbox, subject="chairs deal", sender="new@customer.test")
        deliver(mailbox, subject="chairs other", sender="else@customer.test")
        do_bind_activity(
            do_record_email_activity(mine, direction="in"), DealFactory(responsible=manager)
        )
        assert found(reader, "chairs", responsible=manager) == ["chairs deal"]

    def test_it_filters_by_having_attachments_not_counting_inline_images(self, mailbox, reader):
        deliver_raw(mailbox, with_attachment("chairs with file", "offer.pdf"))
        deliver_raw(mailbox, with_inline_logo("chairs with logo"))
        deliver(mailbox, subject="chairs plain")
        assert found(reader, "chairs", has_attachment=True) == ["chairs with file"]
        assert sorted(found(reader, "chairs", has_attachment=False)) == [
            "chairs plain",
            "chairs with logo",
        ]


@pytest.mark.django_db
class TestPermissions:
    def test_a_user_without_a_grant_never_sees_the_message(self, mailbox, reader):
        deliver(mailbox, subject="Salary review", body="confidential numbers")
        outsider = UserFactory(username="outsider")
        do_grant_mailbox(MailboxFactory(name="Support"), outsider)
        for query, filters in [
            ("salary", {}),
            ("confidential", {"mailbox": mailbox}),
            ("", {"mailbox": mailbox}),
            ("", {"status": "unread"}),
            ("-nothing", {}),
        ]:
            results = search(outsider, query, **filters)
            assert (results.total, results.hits) == (0, []), (query, filters)
        assert found(reader, "salary") == ["Salary review"]

    def test_a_folder_of_a_mailbox_without_a_grant_shows_nothing(self, mailbox, reader):
        hidden = MailboxFactory(name="HR")
        deliver(hidden, subject="chairs in hr")
        assert search(reader, "chairs", folder=hidden.folders.get()).total == 0

    def test_a_group_grant_is_enough(self, mailbox):
        group = Group.objects.create(name="sales team")
        member = UserFactory(username="member")
        member.groups.add(group)
        MailboxGrant.objects.create(mailbox=mailbox, group=group)
        deliver(mailbox, subject="chairs")
        assert found(member, "chairs") == ["chairs"]

    def test_only_readable_mailboxes_of_a_message_are_shown(self, mailbox, reader):
        hidden = MailboxFactory(name="HR")
        raw = make_email(subject="chairs everywhere")
        deliver_raw(mailbox, raw)
        deliver_raw(hidden, raw)
        hit = search(reader, "chairs").hits[0]
        assert hit.mailboxes == [mailbox]
        conversation = hit.message.conversationmessage_set.get(mailbox=mailbox).conversation
        assert hit.conversation_id == conversation.pk

    def test_an_administrator_does_not_see_someone_elses_personal_mailbox(self, mailbox):
        owner = UserFactory(username="owner")
        personal = MailboxFactory(name="Owner's", kind=Mailbox.Kind.PERSONAL, owner=owner)
        deliver(personal, subject="private chairs")
        admin = UserFactory(username="admin", is_superuser=True)
        assert found(admin, "chairs") == []
        assert found(owner, "chairs") == ["private chairs"]

    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_queries_do_not_raise(self, mailbox, reader, text):
        deliver(mailbox, subject="price list", body="a' OR '1'='1 (x) \" - *")
        for order in ("relevance", "newest"):
            search(reader, text, order=order)
            search(reader, text, mailbox=mailbox, status="unread", order=order)


@pytest.mark.django_db
class TestIndexing:
    def test_indexing_again_changes_nothing(self, mailbox, reader):
        message = deliver(mailbox, subject="chairs")
        index_message(message)
        index_message(message)
        assert index_size() == 1
        assert reindex() == (1, 0)
        assert reindex() == (1, 0)
        assert index_size() == 1
        assert found(reader, "chairs") == ["chairs"]

    def test_an_edited_message_is_found_by_its_new_words_only(self, mailbox, reader):
        message = deliver(mailbox, subject="chairs")
        message.subject = "tables"
        message.save()
        index_message(message)
        assert found(reader, "chairs") == []
        assert found(reader, "tables") == ["tables"]

    def test_a_quarantined_message_has_no_entry(self, mailbox):
        deliver_raw(mailbox, b"\x00\x01 not an email")
        assert index_size() == 0

    def test_reindex_fills_a_missing_index_and_drops_stale_entries(self, mailbox, reader):
        kept = deliver(mailbox, subject="chairs kept")
        gone = deliver(mailbox, subject="chairs gone")
        search_module.unindex([kept.pk])
        Message.objects.filter(pk=gone.pk).delete()
        assert found(reader, "chairs") == []  # the stale entry of `gone` never shows
        assert reindex() == (1, 1)
        assert found(reader, "chairs") == ["chairs kept"]

    def test_the_reindex_command_reports_what_it_did(self, mailbox, reader):
        deliver(mailbox, subject="chairs")
        out = io.StringIO()
        call_command("reindex", stdout=out)
        assert out.getvalue().startswith("indexed 1 messages, removed 0 stale entries")
        assert found(reader, "chairs") == ["chairs"]


@pytest.mark.django_db
def test_the_conversation_list_marks_unread_by_copies_in_its_own_mailbox(mailbox):
    """with_unread, whose query shape bench/search_bench.py measures, keeps its meaning."""
    other = MailboxFactory(name="Support")
    raw = make_email(subject="chairs twice")
    deliver_raw(mailbox, raw, seen=True)
    deliver_raw(other, raw)
    deliver(mailbox, subject="unread here")
    unread = {
        c.subject: c.is_unread for c in with_unread(Conversation.objects.filter(mailbox=mailbox))
    }
    assert unread == {"chairs twice": False, "unread here": True}
    assert [c.is_unread for c in with_unread(Conversation.objects.filter(mailbox=other))] == [True]


@pytest.mark.django_db
class TestCommonWords:
    """A word in a large share of all mail: only the newest MATCH_CAP readable matches are
    ranked and counted (MATCH_CAP made small here), so such a search stays fast."""

    @pytest.fixture
    def cap(self, monkeypatch):
        monkeypatch.setattr(search_module, "MATCH_CAP", 3)
        return 3

    def test_it_ranks_and_counts_only_the_newest_matches(self, mailbox, reader, cap):
        for n in range(5):
            deliver(mailbox, subject=f"Order {n}", body="order " * (5 - n))
        results = search(reader, "order")
        assert results.capped and results.total == cap
        # The two oldest (and best-ranked: "order" most often) are past the cap.
        assert sorted(h.message.subject for h in results.hits) == ["Order 2", "Order 3", "Order 4"]
        assert not results.has_next

    def test_unreadable_matches_do_not_use_up_the_cap(self, mailbox, reader, cap):
        other = MailboxFactory(name="Private", address="private@acme.test")
        for n in range(cap):
            deliver(mailbox, subject=f"Order {n}", body="order")
        for n in range(cap + 2):
            deliver(other, subject=f"Secret order {n}", body="order")
        results = search(reader, "order")
        assert not results.capped and results.total == cap
        assert all(h.message.subject.startswith("Order") for h in results.hits)

    def test_pages_stop_at_the_cap(self, mailbox, reader, cap):
        for n in range(cap + 2):
            deliver(mailbox, subject=f"Order {n}", body="order")
        first = search(reader, "order", limit=2, order="newest")
        assert [h.message.subject for h in first.hits] == [f"Order {cap + 1}", f"Order {cap}"]
        assert first.has_next and first.pages == 2
        second = search(reader, "order", limit=2, offset=2, order="newest")
        assert [h.message.subject for h in second.hits] == [f"Order {cap - 1}"]
        assert second.capped and not second.has_next

    def test_fewer_matches_than_the_cap_are_counted_exactly(self, mailbox, reader, cap):
        for n in range(cap):
            deliver(mailbox, subject=f"Order {n}", body="order")
        results = search(reader, "order")
        assert not results.capped and results.total == cap


@pytest.mark.django_db
def test_a_search_puts_the_planner_settings_back(mailbox, reader):
    """A search on PostgreSQL plans with its own settings (no sequential scan, a larger
    work_mem, so that a common word's bitmap is not lossy), then puts them back, even
    inside an outer transaction, where a SET LOCAL would otherwise last to its end.
    SQLite has no such settings: there the search just answers."""
    deliver(mailbox, subject="Quarterly invoice", body="See attached.")
    if connection.vendor != "postgresql":
        assert found(reader, "invoice") == ["Quarterly invoice"]
        return

    def settings() -> tuple[str, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('work_mem')")
            return cursor.fetchone()

    before = settings()
    assert before[1] != search_module.SEARCH_WORK_MEM
    assert found(reader, "invoice") == ["Quarterly invoice"]
    assert settings() == before
