"""Full-text search over mail: one interface, two engines.

`index_message()` writes a message's search entry (the ingest job calls it right after
parsing and threading, in the same transaction); `search()` finds messages for a user,
with filters, only through copies in mailboxes the user may read. What is searched:
subject, sender, recipients, attachment names and the body (the text part, else the
visible text of the HTML part). The engine follows the database:

- SQLite (embedded): an FTS5 table `mail_search`, rowid = message id, ranked by bm25.
- PostgreSQL: a side table `mail_search(message_id, document, summary)` of tsvectors
  with a GIN index on `document`, ranked by ts_rank on `summary` (see _Postgres).

Both tables are created by the migration `0004_search_index` and are invisible to the
ORM. Neither has a foreign key or a trigger on mail_message: Django's test flush
TRUNCATEs only the tables it knows (a foreign key would make that fail on PostgreSQL),
and on SQLite Django rebuilds mail_message on many schema changes, silently dropping any
trigger on it. An entry whose message is gone can never show anyway: a result needs a
copy in a readable mailbox, and copies go with their message. `prune()` (run by
`postroom reindex`) deletes such entries; `unindex()` is for code that deletes messages.

Matching is defined once, here, in Python: text is case-folded, stripped of Latin,
Greek and Cyrillic diacritics and cut into words (`words()`), the same way for documents
and for queries, and both engines index those words. That makes both engines find the
same messages for the same query (the tests run on both), and keeps PostgreSQL's own
parser, which reads "anna@customer.test" as a single token, from deciding what a word
is. The PostgreSQL configuration is `simple` (no stemming, no stop words), not
`english`: a shared inbox carries mail in many languages, names, addresses and order
numbers, which an English stemmer and stop-word list mangle, and it matches what FTS5's
unicode61 tokenizer does. Words typed without quotes also match as prefixes ("invoice"
finds "invoices"), which stands in for stemming in every language.

User input is never passed through as query syntax: `parse_query()` reads a small
language (words, "quoted phrases", -exclusions, OR) into a `Query` whose words contain
only letters and digits, and each engine renders that with every word quoted, so no
input can make a query raise. websearch_to_tsquery is not used: it exists only on
PostgreSQL, has no prefix matching, and would make the two engines disagree.
"""

from __future__ import annotations

import contextlib
import enum
import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import nh3
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from postroom.lib.text import tidy_lines
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Folder, Mailbox

from .bounds import STORED_BODY_CHARS, html_too_complex, visible_text
from .models import Attachment, ConversationMessage, Message, MessageCopy

# The index table of both engines; created by migration 0004_search_index.
INDEX_TABLE = "mail_search"

# Bounds on the work one message or one query can cause.
BODY_CHARS = 200_000  # of a body are indexed: bounds a tsvector (1 MB at most) and the FTS row
LONGEST_WORD = 100  # longer "words" are base64 or junk, never typed into a search box
QUERY_CHARS = 500
QUERY_TERMS = 12
PREFIX_MIN = 3  # a word typed without quotes matches as a prefix from this length on
MAX_LIMIT = 200
MATCH_CAP = 1000  # matches ranked and counted: the newest ones (see search())
SEARCH_WORK_MEM = "32MB"  # PostgreSQL's work_mem for one search query (see _Postgres.planned)
SNIPPET_CHARS = 220  # the snippet shown under a result
SNIPPET_SCAN = 20_000  # characters of a body searched for the snippet's first match
SUMMARY_WORDS = 50  # of a body are ranked by on PostgreSQL

# Relative weights of the columns: a word in the subject counts ten times one in the body.
# FTS5 takes them in column order; PostgreSQL's four weight classes approximate them.
_COLUMNS = ("subject", "sender", "recipients", "attachments", "body")
_BM25_WEIGHTS = (10.0, 5.0, 3.0, 5.0, 1.0)
_PG_WEIGHTS = ("A", "B", "C", "B", "D")


# ----------------------------------------------------------------------- words


# Diacritics of Latin, Greek and Cyrillic letters after NFKD: é -> e, ё -> е, ß stays
# (casefold makes it ss). Marks of other scripts (Indic vowel signs, Hebrew points) are
# part of their words and are kept.
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# A word: a run of letters and digits (the underscore, which \w includes, separates words
# as it does for FTS5's unicode61: invoice_2024.pdf is invoice, 2024, pdf).
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Case-folded, without diacritics: what both engines compare."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", _DIACRITICS.sub("", text))


def words(text: str) -> list[str]:
    """The folded words of `text`, as both engines index them."""
    return [w for w in _WORD.findall(fold(text)) if len(w) <= LONGEST_WORD]


# ASCII bytes that are not letters or digits, as spaces: what _WORD separates words at.
_ASCII_SEPARATORS = bytes(
    c if chr(c).isascii() and chr(c).isalnum() else ord(" ") for c in range(256)
)


def _indexed(text: str) -> str:
    """words(text) joined by spaces: a document's column.

    ASCII text (most bodies) is cut in C, by a byte table and split(): a third of the
    cost of the regex for a 10 KB body (0.55 -> 0.18 ms), which was the biggest step of
    a first sync after parsing; the words are the same (a test compares them)."""
    if not text.isascii():
        return " ".join(words(text))
    found = text.lower().encode("ascii").translate(_ASCII_SEPARATORS).split()
    if found and len(max(found, key=len)) > LONGEST_WORD:
        found = [w for w in found if len(w) <= LONGEST_WORD]
    return b" ".join(found).decode("ascii")


def html_text(markup: str) -> str:
    """The visible text of an HTML body, for mail that has no plain-text part.

    nh3 (Rust, already used to sanitise) drops every tag, and script/style/head with
    their content, in less than half the time of html.parser (0.7 against 1.6 ms for
    34 kB). A space before each tag keeps "<td>a</td><td>b</td>" two words. nh3 escapes
    the text it keeps (&amp;, &lt;), so html.unescape gives the text a reader sees.
    """
    if not markup:
        return ""
    markup = markup[:STORED_BODY_CHARS]
    if html_too_complex(markup):
        return visible_text(markup)
    cleaned = nh3.clean(
        markup.replace("<", " <"),
        tags=set(),
        clean_content_tags={"script", "style", "head", "title", "template", "noscript"},
        attributes={},
    )
    return html.unescape(cleaned)


# ----------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Term:
    """One word or phrase of a query: its folded words, in order."""

    words: tuple[str, ...]
    prefix: bool = False  # the last word also matches longer words starting with it


@dataclass(frozen=True)
class Query:
    """A parsed query: every group must match (a group is terms joined by OR), no excluded."""

    groups: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.groups or self.excluded)

    @property
    def shown_terms(self) -> tuple[Term, ...]:
        """Terms a result is highlighted for: the wanted ones, not the excluded."""
        return tuple(term for group in self.groups for term in group)


# A quoted phrase (an unclosed quote runs to the end), optionally negated; or a bare word.
_QUERY_PART = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_query(text: str) -> Query:
    """Read what a user typed; never raises, whatever the input.

    Words are ANDed; "a quoted phrase" matches those words in that order; -word or
    -"a phrase" excludes; OR (in capitals, as in Gmail) between two terms matches either.
    Anything else (brackets, stars, colons, quotes in odd places) is plain text.
    """
    items: list[tuple[str, Term] | str] = []
    for match in _QUERY_PART.finditer(text[:QUERY_CHARS]):
        negated, phrase, bare = match.groups()
        if bare == "OR":
            items.append("OR")
            continue
        if phrase is not None:
            found, prefix = words(phrase), False
        else:
            negated = "-" if bare.startswith("-") and len(bare) > 1 else ""
            found = words(bare[1:] if negated else bare)
            prefix = bool(found) and len(found[-1]) >= PREFIX_MIN
        if found:
            items.append(("-" if negated else "+", Term(tuple(found), prefix)))
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joined = False  # the previous item was an OR between two wanted terms
    for index, item in enumerate(items):
        if item == "OR":
            previous = items[index - 1] if index else None
            joined = isinstance(previous, tuple) and previous[0] == "+" and bool(groups)
            continue
        sign, term = item
        if sign == "-":
            excluded.append(term)
        elif joined:
            groups[-1].append(term)
        else:
            groups.append([term])
        joined = False
    # Bound the work: at most QUERY_TERMS terms, counted across groups and exclusions.
    kept: list[tuple[Term, ...]] = []
    budget = QUERY_TERMS
    for group in groups:
        if budget <= 0:
            break
        kept.append(tuple(dict.fromkeys(group[:budget])))
        budget -= len(kept[-1])
    return Query(tuple(dict.fromkeys(kept)), tuple(dict.fromkeys(excluded[: max(budget, 0)])))


# ----------------------------------------------------------------------- highlighting


@dataclass(frozen=True)
class Fragment:
    """A piece of shown text; `hit` pieces matched the query. Templates escape both."""

    text: str
    hit: bool = False


def _matcher(query: Query) -> Callable[[str], bool]:
    exact = {w for term in query.shown_terms for w in term.words}
    prefixes = tuple(term.words[-1] for term in query.shown_terms if term.prefix)

    def matches(raw_word: str) -> bool:
        return any(w in exact or w.startswith(prefixes) for w in words(raw_word))

    return matches


def _fragments(text: str, matches: Callable[[str], bool]) -> list[Fragment]:
    out: list[Fragment] = []
    position = 0
    for found in _WORD.finditer(text):
        if matches(found.group()):
            if found.start() > position:
                out.append(Fragment(text[position : found.start()]))
            out.append(Fragment(found.group(), hit=True))
            position = found.end()
    if position < len(text):
        out.append(Fragment(text[position:]))
    return out


def highlight(text: str, query: Query) -> list[Fragment]:
    """All of a short text (a subject), with the words that matched marked."""
    return _fragments(" ".join(text.split()), _matcher(query))


def _space_after(text: str, begin: int, end: int) -> int:
    """Where a snippet starts: after the first space or line break in [begin, end)."""
    found = [i for i in (text.find(" ", begin, end), text.find("\n", begin, end)) if i >= 0]
    return min(found) + 1 if found else begin


def _space_before(text: str, begin: int, end: int) -> int:
    """Where a snippet ends: at the last space or line break in [begin, end), or -1."""
    return max(text.rfind(" ", begin, end), text.rfind("\n", begin, end))


def snippet(text: str, query: Query, width: int = SNIPPET_CHARS) -> list[Fragment]:
    """About `width` characters of a body around its first match, the matches marked;
    its lines kept (tidy_lines), so a quote or a signature reads as it was written."""
    text = tidy_lines(text[:SNIPPET_SCAN])
    matches = _matcher(query)
    start = 0
    if query.shown_terms:
        first = next((m for m in _WORD.finditer(text) if matches(m.group())), None)
        if first is not None and first.start() > width // 4:
            # Begin at a word boundary a little before the match, for context.
            start = _space_after(text, first.start() - width // 4, first.start())
    end = start + width
    if end < len(text):
        end = max(_space_before(text, start, end), start + width // 2)
    out = _fragments(text[start:end], matches)
    if start > 0:
        out.insert(0, Fragment("… "))
    if end < len(text):
        out.append(Fragment(" …"))
    return out


# ----------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Document:
    """What is indexed for one message: its folded words per column, space-joined."""

    message_id: int
    subject: str
    sender: str
    recipients: str
    attachments: str
    body: str

    @property
    def columns(self) -> tuple[str, str, str, str, str]:
        return (self.subject, self.sender, self.recipients, self.attachments, self.body)

    @property
    def body_start(self) -> str:
        """The first words of the body: what PostgreSQL ranks by (see _Postgres)."""
        return " ".join(self.body.split(" ", SUMMARY_WORDS)[:SUMMARY_WORDS])


def body_text(message: Message) -> str:
    """The body as plain text: the text part, else the visible text of the HTML part."""
    return message.text_body or html_text(message.html_body)


def snippet_text(message: Message) -> str:
    """The body as a reader sees it, for a snippet: the text part, else the HTML part's
    visible text with a line break where a block or a <br> ends. Indexing reads only
    words and keeps the faster body_text, which runs an HTML-only email's lines together."""
    return message.text_body or visible_text(message.html_body[:STORED_BODY_CHARS])


def indexed_bodies(messages: Sequence[Message]) -> dict[int, str]:
    """The indexed words of each parsed message's body: the costly part of a document,
    computed apart so that it can run outside a write transaction."""
    return {m.pk: _indexed(body_text(m)[:BODY_CHARS]) for m in messages if m.status == _PARSED}


def document_for(
    message: Message, attachment_names: Sequence[str] = (), body: str | None = None
) -> Document:
    return Document(
        message_id=message.pk,
        subject=_indexed(message.subject),
        sender=_indexed(f"{message.from_name} {message.from_address}"),
        recipients=_indexed(" ".join([*message.to_addresses, *message.cc_addresses])),
        attachments=_indexed(" ".join(attachment_names)),
        body=_indexed(body_text(message)[:BODY_CHARS]) if body is None else body,
    )


# ----------------------------------------------------------------------- attachments


# Inline parts (a logo in a signature, shown inside the HTML body) are not what anyone
# means by an attachment: their names are not indexed and they do not count for
# "has attachments".
_LISTED = Q(is_inline=False)


def _attachment_names(message_ids: Sequence[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    if not message_ids:
        return names
    rows = Attachment.objects.filter(_LISTED, message_id__in=message_ids).order_by("pk")
    for message_id, filename in rows.values_list("message_id", "filename"):
        if filename:
            names.setdefault(message_id, []).append(filename)
    return names


# ----------------------------------------------------------------------- engines


class _Engine(Protocol):
    def write(self, cursor: Any, documents: Sequence[Document]) -> None: ...

    def delete(self, cursor: Any, message_ids: Sequence[int]) -> None: ...

    def prune(self, cursor: Any) -> int: ...

    def optimize(self, cursor: Any) -> None: ...

    # "ASC" or "DESC": the direction in which `matches()` scores go from best to worst.
    best_first: str

    # The SQL of a matching message's id in the FROM clause that `matches()` returns.
    ident: str

    def matches(self, query: Query) -> tuple[str, str, list[str], list[Any]]:
        """The messages matching the query's wanted terms: a FROM clause, the SQL of a
        match's score, the conditions (ANDed) that choose the matches, and the
        parameters of the FROM clause and the conditions, in that order."""
        ...

    def excluded(self, ident: str, terms: Sequence[Term]) -> tuple[str, list[Any]]:
        """A condition: the message whose id is the SQL `ident` matches none of the terms."""
        ...

    def planned(self, cursor: Any) -> contextlib.AbstractContextManager[None]:
        """Around a full-text query: whatever the planner needs to plan it well."""
        ...


_MESSAGE = Message._meta.db_table
_PARSED = Message.Status.PARSED


class _SQLite:
    """FTS5, with the content stored in the FTS table itself.

    Stored rather than external content: the columns are derived (folded words, HTML
    turned into text, attachment names from another table) so there is no table to
    point at, and deleting from an external-content or contentless table needs the old
    values exactly, which a re-parse changes. It costs a second copy of the words.
    """

    def write(self, cursor: Any, documents: Sequence[Document]) -> None:
        self.delete(cursor, [d.message_id for d in documents])
        cursor.executemany(
            f"INSERT INTO {INDEX_TABLE} (rowid, {', '.join(_COLUMNS)}) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(d.message_id, *d.columns) for d in documents],
        )

    def delete(self, cursor: Any, message_ids: Sequence[int]) -> None:
        cursor.executemany(
            f"DELETE FROM {INDEX_TABLE} WHERE rowid = %s",  # noqa: S608
            [(i,) for i in message_ids],
        )

    def prune(self, cursor: Any) -> int:
        cursor.execute(
            f"DELETE FROM {INDEX_TABLE} WHERE rowid NOT IN "  # noqa: S608
            f"(SELECT id FROM {_MESSAGE} WHERE status = %s)",
            [_PARSED],
        )
        return cursor.rowcount

    def optimize(self, cursor: Any) -> None:
        # Merges the index's segments into one: faster queries after a bulk load.
        cursor.execute(f"INSERT INTO {INDEX_TABLE} ({INDEX_TABLE}) VALUES ('optimize')")  # noqa: S608

    @staticmethod
    def _term(term: Term) -> str:
        # Words hold only letters and digits (never a quote), so quoting them is safe;
        # a quoted string of several words is an FTS5 phrase; `*` after it, a prefix.
        return f'"{" ".join(term.words)}"' + (" *" if term.prefix else "")

    def _expression(self, groups: Iterable[Iterable[Term]]) -> str:
        return " AND ".join(
            "(" + " OR ".join(self._term(t) for t in group) + ")" for group in groups
        )

    best_first = "ASC"  # bm25() is lower for better matches

    def planned(self, cursor: Any) -> contextlib.AbstractContextManager[None]:
        # Nothing to tune; and no transaction: on SQLite it would take the write lock.
        return contextlib.nullcontext()

    ident = f"{INDEX_TABLE}.rowid"

    def matches(self, query: Query) -> tuple[str, str, list[str], list[Any]]:
        weights = ", ".join(map(str, _BM25_WEIGHTS))
        return (
            INDEX_TABLE,
            f"bm25({INDEX_TABLE}, {weights})",
            [f"{INDEX_TABLE} MATCH %s"],
            [self._expression(query.groups)],
        )

    def excluded(self, ident: str, terms: Sequence[Term]) -> tuple[str, list[Any]]:
        return (
            f"{ident} NOT IN (SELECT rowid FROM {INDEX_TABLE} WHERE {INDEX_TABLE} MATCH %s)",  # noqa: S608
            [self._expression([terms])],
        )


class _Postgres:
    """Two tsvectors per message in a side table, `simple` configuration.

    `document` holds every word and has the GIN index: it decides what matches, and for
    plain words the index answers alone, without reading the vector. `summary` holds the
    subject, sender, recipients, attachment names and the first SUMMARY_WORDS words of
    the body, and is what ts_rank reads. GIN stores no positions, so ranking has to read
    a vector for every match, and a whole body's vector lives in TOAST: ranking 20,000
    matches on `document` took 160 ms, on the small inline `summary` 55 ms
    (bench/search_bench.py). A match deep in a body ranks low and falls back to newest
    first; FTS5 keeps positions in its index and ranks on everything with bm25.
    """

    def write(self, cursor: Any, documents: Sequence[Document]) -> None:
        head = " || ".join(
            f"setweight(to_tsvector('simple', %s), '{weight}')" for weight in _PG_WEIGHTS[:4]
        )
        body = f"setweight(to_tsvector('simple', %s), '{_PG_WEIGHTS[4]}')"
        cursor.executemany(
            f"INSERT INTO {INDEX_TABLE} (message_id, document, summary) "  # noqa: S608
            f"SELECT id, head || {body}, head || {body} FROM (SELECT %s AS id, {head} AS head) d "
            "ON CONFLICT (message_id) DO UPDATE "
            "SET document = EXCLUDED.document, summary = EXCLUDED.summary",
            [(d.body, d.body_start, d.message_id, *d.columns[:4]) for d in documents],
        )

    def delete(self, cursor: Any, message_ids: Sequence[int]) -> None:
        if message_ids:
            cursor.execute(
                f"DELETE FROM {INDEX_TABLE} WHERE message_id = ANY(%s)",  # noqa: S608
                [list(message_ids)],
            )

    def prune(self, cursor: Any) -> int:
        cursor.execute(
            f"DELETE FROM {INDEX_TABLE} s WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {_MESSAGE} m WHERE m.id = s.message_id AND m.status = %s)",
            [_PARSED],
        )
        return cursor.rowcount

    def optimize(self, cursor: Any) -> None:
        cursor.execute(f"ANALYZE {INDEX_TABLE}")

    @staticmethod
    def _term(term: Term) -> str:
        # Words hold only letters and digits, so single-quoting them is safe in tsquery
        # syntax; <-> is "followed by" (a phrase); :* a prefix.
        last = len(term.words) - 1
        return " <-> ".join(
            f"'{w}'" + (":*" if term.prefix and i == last else "") for i, w in enumerate(term.words)
        )

    def _expression(self, groups: Iterable[Iterable[Term]]) -> str:
        return " & ".join(
            "(" + " | ".join(f"({self._term(t)})" for t in group) + ")" for group in groups
        )

    best_first = "DESC"

    @contextlib.contextmanager
    def planned(self, cursor: Any) -> Iterator[None]:
        """No sequential scans for this query: PostgreSQL's planner costs `@@` as a cheap
        operator and, for a word in a third of all mail, scans the table instead of the
        GIN index, reading every tsvector out of TOAST (160 ms where the index takes 30;
        bench/search_bench.py). PostgreSQL has no per-query hints, so the settings are
        changed for the transaction and put back right after the query.

        And work_mem of SEARCH_WORK_MEM: with the default 4 MB, the bitmap of a word in
        tens of thousands of messages (of a million) turns lossy, and PostgreSQL then
        reads and re-matches every tsvector of those heap pages out of TOAST: 95,000
        buffers and 400 ms for "sent phone" in bench/million.py, 10,700 and 170 ms with
        32 MB.
        """
        with transaction.atomic():
            cursor.execute(
                "SELECT current_setting('enable_seqscan'), current_setting('work_mem'), "
                "set_config('enable_seqscan', 'off', true), set_config('work_mem', %s, true)",
                [SEARCH_WORK_MEM],
            )
            seqscan, work_mem = cursor.fetchone()[:2]
            yield
            cursor.execute(
                "SELECT set_config('enable_seqscan', %s, true), set_config('work_mem', %s, true)",
                [seqscan, work_mem],
            )

    ident = "s.message_id"

    def matches(self, query: Query) -> tuple[str, str, list[str], list[Any]]:
        # ts_rank is in the select list, so it runs for the rows that reach LIMIT (the
        # newest matches), not for every match.
        return (
            f"{INDEX_TABLE} AS s CROSS JOIN to_tsquery('simple', %s) AS q",
            "ts_rank(s.summary, q)",
            ["s.document @@ q"],
            [self._expression(query.groups)],
        )

    def excluded(self, ident: str, terms: Sequence[Term]) -> tuple[str, list[Any]]:
        return (
            f"{ident} NOT IN (SELECT message_id FROM {INDEX_TABLE} "  # noqa: S608
            "WHERE document @@ to_tsquery('simple', %s))",
            [self._expression([terms])],
        )


def _engine() -> _Engine:
    if connection.vendor == "sqlite":
        return _SQLite()
    if connection.vendor == "postgresql":
        return _Postgres()
    raise NotImplementedError(f"search supports SQLite and PostgreSQL, not {connection.vendor}")


# ----------------------------------------------------------------------- indexing


def index_message(message: Message) -> None:
    """Make the index hold what `message` says now; idempotent, in the caller's transaction.

    A message that is not parsed (received, quarantined) has no document.
    """
    index_messages([message])


def index_messages(messages: Sequence[Message], bodies: dict[int, str] | None = None) -> None:
    """Like index_message, for many; `bodies` (indexed_bodies) may come precomputed."""
    parsed = [m for m in messages if m.status == _PARSED]
    names = _attachment_names([m.pk for m in parsed])
    bodies = bodies or {}
    engine = _engine()
    with connection.cursor() as cursor:
        engine.delete(cursor, [m.pk for m in messages if m.status != _PARSED])
        if parsed:
            engine.write(
                cursor,
                [document_for(m, names.get(m.pk, ()), bodies.get(m.pk)) for m in parsed],
            )


def unindex(message_ids: Sequence[int]) -> None:
    """Forget messages that are being deleted (retention will call this)."""
    with connection.cursor() as cursor:
        _engine().delete(cursor, list(message_ids))


_INDEXED_FIELDS = (
    "status",
    "subject",
    "from_name",
    "from_address",
    "to_addresses",
    "cc_addresses",
    "text_body",
    "html_body",
)


def reindex(
    *, batch_size: int = 500, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Index every parsed message again and drop entries of messages that are gone.

    Batches of `batch_size`, each in its own short transaction, so that SQLite's write
    lock is never held for long and an interrupted run resumes by starting again.
    Returns (messages indexed, stale entries removed).
    """
    done, last = 0, 0
    parsed = Message.objects.filter(status=_PARSED).only(*_INDEXED_FIELDS).order_by("pk")
    while True:
        batch = list(parsed.filter(pk__gt=last)[:batch_size])
        if not batch:
            break
        with transaction.atomic():
            index_messages(batch)
        done, last = done + len(batch), batch[-1].pk
        if progress:
            progress(done)
    engine = _engine()
    with transaction.atomic(), connection.cursor() as cursor:
        removed = engine.prune(cursor)
    with connection.cursor() as cursor:
        engine.optimize(cursor)
    return done, removed


def prune() -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        return _engine().prune(cursor)


# ----------------------------------------------------------------------- searching


class Status(enum.StrEnum):
    UNREAD = "unread"  # some copy of it, in the mailboxes searched, lacks \Seen
    READ = "read"  # every copy of it there has \Seen
    QUARANTINED = "quarantined"


class Order(enum.StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"


@dataclass
class SearchHit:
    message: Message
    score: float | None
    subject: list[Fragment]
    snippet: list[Fragment]
    # The mailboxes the user may read that hold the message, and its conversation in one
    # of them (None if it is not threaded yet).
    mailboxes: list[Mailbox] = field(default_factory=list)
    conversation_id: int | None = None


@dataclass
class SearchResults:
    query: Query
    hits: list[SearchHit]
    total: int
    limit: int
    offset: int
    # More messages match than MATCH_CAP: `total` is the cap, and the results are the
    # newest MATCH_CAP matches in the order asked for.
    capped: bool = False

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.hits) < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))


def _pk(value: Any) -> int | None:
    return None if value is None else int(getattr(value, "pk", value))


def _responsible_messages(user: Any) -> QuerySet:
    """Ids of messages whose CRM activity is the user's, or sits on an item of theirs.

    "Responsible" is the responsible person of the CRM items (lead, contact, company,
    deal, smart item) the email is bound to, or of its activity. The CRM is further
    along the path of an email than mail, so its models are looked up by name and never
    imported here.
    When conversations get an assignee (the teamwork issue), that belongs here too.
    """
    activity = apps.get_model("crm", "Activity")
    entry = apps.get_model("crm", "TimelineEntry")
    on_items = Q(pk__in=[])
    for name in ("Lead", "Contact", "Company", "Deal", "SmartItem"):
        model = apps.get_model("crm", name)
        on_items |= Q(
            content_type=ContentType.objects.get_for_model(model),
            object_id__in=model.objects.filter(responsible=user).values("pk"),
        )
    bound = entry.objects.filter(on_items, activity__isnull=False).values("activity_id")
    return activity.objects.filter(
        Q(responsible=user) | Q(pk__in=bound), message__isnull=False
    ).values("message_id")


HIDDEN_FOLDER_ROLES = (Folder.Role.SPAM, Folder.Role.TRASH)
# The message's time, as Message.sort_time has it.
_SORT_TIME = "COALESCE(m.date, m.received_at, m.created_at)"


def _hidden_folders(mailbox_ids: Sequence[int]) -> list[int]:
    folders = Folder.objects.filter(mailbox_id__in=mailbox_ids, role__in=HIDDEN_FOLDER_ROLES)
    return sorted(folders.values_list("pk", flat=True))


def _in(values: Sequence[Any]) -> str:
    return "(" + ", ".join(["%s"] * len(values)) + ")"


@dataclass
class _Where:
    """SQL conditions ANDed, their parameters, and whether they read mail_message (`m`)."""

    sql: list[str]
    params: list[Any]
    reads_message: bool = False


def _conditions(
    ident: str,
    mailbox_ids: Sequence[int],
    *,
    folder_id: int | None,
    hidden_folder_ids: Sequence[int],
    status: Status | None,
    responsible: Any,
    since: datetime | None,
    until: datetime | None,
    has_attachment: bool | None,
) -> _Where:
    """Conditions on the message whose id is the SQL `ident`.

    Only the date and quarantine filters read mail_message: the rest go by id, so that a
    search matching tens of thousands of messages need not join that table at all.
    """
    copies = f"SELECT 1 FROM {MessageCopy._meta.db_table} c WHERE c.message_id = {ident}"  # noqa: S608
    scope = f"{copies} AND c.mailbox_id IN {_in(mailbox_ids)}"
    scope_params: list[Any] = list(mailbox_ids)
    if folder_id is not None:
        scope += " AND c.folder_id = %s"
        scope_params.append(folder_id)
    if hidden_folder_ids:
        scope += f" AND c.folder_id NOT IN {_in(hidden_folder_ids)}"
        scope_params.extend(hidden_folder_ids)
    # The permission check: a message shows only through a copy in a readable mailbox.
    if status == Status.UNREAD:
        where, params = [f"EXISTS ({scope} AND c.is_seen = %s)"], [*scope_params, False]
    elif status == Status.READ:
        where = [f"EXISTS ({scope})", f"NOT EXISTS ({scope} AND c.is_seen = %s)"]
        params = [*scope_params, *scope_params, False]
    else:
        where, params = [f"EXISTS ({scope})"], scope_params
    result = _Where(where, params)
    if status == Status.QUARANTINED:
        where.append("m.status = %s")
        params.append(Message.Status.QUARANTINED)
        result.reads_message = True
    for bound, operator in ((since, ">="), (until, "<")):
        if bound is not None:
            where.append(f"{_SORT_TIME} {operator} %s")
            params.append(connection.ops.adapt_datetimefield_value(bound))
            result.reads_message = True
    if responsible is not None:
        sql, sub_params = _responsible_messages(responsible).query.sql_with_params()
        where.append(f"{ident} IN ({sql})")
        params.extend(sub_params)
    if has_attachment is not None:
        exists = (
            f"EXISTS (SELECT 1 FROM {Attachment._meta.db_table} a "  # noqa: S608
            f"WHERE a.message_id = {ident} AND NOT a.is_inline)"
        )
        where.append(exists if has_attachment else f"NOT {exists}")
    return result


def search(
    user: Any,
    query: str,
    *,
    mailbox: Mailbox | int | None = None,
    folder: Folder | int | None = None,
    status: Status | str | None = None,
    responsible: Any = None,
    since: datetime | None = None,
    until: datetime | None = None,
    has_attachment: bool | None = None,
    order: Order | str = Order.RELEVANCE,
    limit: int = 50,
    offset: int = 0,
) -> SearchResults:
    """Messages matching `query` and the filters, in mailboxes `user` may read.

    `until` is exclusive; dates are the message's sort time (its Date header, else when
    the server received it). Spam and Trash folders are searched only when chosen as
    `folder`. Without words (or only -exclusions) the filters alone
    choose, newest first; without words and filters nothing is searched. Best match
    first unless `order` is "newest".
    """
    parsed = parse_query(query)
    limit, offset = max(1, min(limit, MAX_LIMIT)), max(0, offset)
    status = Status(status) if status else None
    order = Order(order)
    empty = SearchResults(parsed, [], 0, limit, offset)
    filtered = any(
        v is not None for v in (mailbox, folder, status, responsible, since, until, has_attachment)
    )
    if not (parsed or filtered):
        return empty
    allowed = set(mailboxes_for(user).values_list("pk", flat=True))
    if mailbox is not None:
        allowed &= {_pk(mailbox)}
    folder_id = _pk(folder)
    if folder_id is not None:
        folder_mailbox = Folder.objects.filter(pk=folder_id).values_list("mailbox_id", flat=True)
        allowed &= set(folder_mailbox)
    if not allowed:
        return empty
    mailbox_ids = sorted(allowed)
    # Like Gmail: spam and deleted mail only when asked for by choosing that folder.
    hidden = [] if folder_id is not None else _hidden_folders(mailbox_ids)
    engine = _engine()
    ident = engine.ident if parsed.groups else "m.id"
    where = _conditions(
        ident,
        mailbox_ids,
        folder_id=folder_id,
        hidden_folder_ids=hidden,
        status=status,
        responsible=responsible,
        since=since,
        until=until,
        has_attachment=has_attachment,
    )
    if parsed.excluded:
        sql, exclude_params = engine.excluded(ident, parsed.excluded)
        where.sql.append(sql)
        where.params.extend(exclude_params)
    newest = f"{_SORT_TIME} DESC, {ident} DESC"
    capped = False
    if parsed.groups:
        source, score, match_sql, match_params = engine.matches(parsed)
        if where.reads_message:
            source += f" JOIN {_MESSAGE} AS m ON m.id = {ident}"
        conditions = " AND ".join([*match_sql, *where.sql])
        # The newest MATCH_CAP readable matches (by id: the order mail arrived in, which
        # both indexes walk without sorting), and only those are ranked and counted. A
        # word in a third of all mail matches hundreds of thousands of messages; ranking
        # and permission-checking all of them took seconds (bench/million.py). A query
        # with fewer matches is answered exactly as before.
        # MATERIALIZED: found and scored once, in one pass over the index.
        # One more than the cap is found, to know whether there are more.
        prefix = (
            f"WITH found AS MATERIALIZED (SELECT {ident} AS id, {score} AS score "  # noqa: S608
            f"FROM {source} WHERE {conditions} ORDER BY {ident} DESC LIMIT %s), "
            "hits AS (SELECT id, score FROM found ORDER BY id DESC LIMIT %s) "
        )
        prefix_params = [*match_params, *where.params, MATCH_CAP + 1, MATCH_CAP]
        source, score, conditions, where_params = "hits", "hits.score", "1 = 1", []
        counted = "(SELECT COUNT(*) FROM found)"
        if order == Order.NEWEST:
            source += f" JOIN {_MESSAGE} AS m ON m.id = hits.id"
            ordering = f"{_SORT_TIME} DESC, hits.id DESC"
        else:
            ordering = f"hits.score {engine.best_first}, hits.id DESC"
        planned = engine.planned
        ident = "hits.id"
    else:
        prefix, prefix_params, source, score = "", [], f"{_MESSAGE} AS m", "NULL"
        conditions, where_params, ordering = " AND ".join(where.sql), where.params, newest
        planned = _unplanned
        # COUNT(*) OVER () counts every match before LIMIT: the page and the total in
        # one pass over the matches instead of two.
        counted = "COUNT(*) OVER ()"
    sql = (
        f"{prefix}SELECT {ident}, {score} AS score, {counted} "  # noqa: S608
        f"FROM {source} WHERE {conditions} ORDER BY {ordering} LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor, planned(cursor):
        cursor.execute(sql, [*prefix_params, *where_params, limit, offset])
        rows = cursor.fetchall()
        if rows:
            total = rows[0][2]
        elif offset:  # past the last page: count without fetching
            count = f"SELECT {counted}" if parsed.groups else f"SELECT COUNT(*) FROM {source}"  # noqa: S608
            cursor.execute(
                f"{prefix}{count} WHERE {conditions}",  # noqa: S608
                [*prefix_params, *where_params],
            )
            total = cursor.fetchone()[0]
        else:
            total = 0
    if parsed.groups and total > MATCH_CAP:
        total, capped = MATCH_CAP, True
    hits = _hits(rows, parsed, mailbox_ids)
    return SearchResults(parsed, hits, total, limit, offset, capped)


def _unplanned(cursor: Any) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


def _hits(rows: Sequence[tuple], query: Query, mailbox_ids: Sequence[int]) -> list[SearchHit]:
    """Load the page's messages with their readable mailboxes, conversation and snippet."""
    ids = [row[0] for row in rows]
    messages = Message.objects.only(
        *_INDEXED_FIELDS, "date", "received_at", "created_at", "error"
    ).in_bulk(ids)
    mailboxes = Mailbox.objects.in_bulk(mailbox_ids)
    held: dict[int, list[Mailbox]] = {}
    copies = MessageCopy.objects.filter(message_id__in=ids, mailbox_id__in=mailbox_ids)
    for message_id, mailbox_id in copies.values_list("message_id", "mailbox_id").distinct():
        held.setdefault(message_id, []).append(mailboxes[mailbox_id])
    threads: dict[int, int] = {}
    links = ConversationMessage.objects.filter(message_id__in=ids, mailbox_id__in=mailbox_ids)
    for message_id, conversation_id in links.order_by("mailbox_id").values_list(
        "message_id", "conversation_id"
    ):
        threads.setdefault(message_id, conversation_id)
    hits = []
    for message_id, score, _ in rows:
        message = messages.get(message_id)
        if message is None:  # deleted since the query ran
            continue
        hits.append(
            SearchHit(
                message=message,
                score=score,
                subject=highlight(message.subject, query),
                snippet=snippet(snippet_text(message), query),
                mailboxes=sorted(held.get(message_id, []), key=lambda m: m.name),
                conversation_id=threads.get(message_id),
            )
        )
    return hits
