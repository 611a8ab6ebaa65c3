"""Ranked search over one server's tools, for the dynamic mode's `search_tools`.

BM25 by Tantivy (the Rust search engine, through its official Python bindings), over an
index held in memory and built once per gateway snapshot, never per call: the same on
every database, since nothing here touches one. Each tool is one document with its name,
summary, description, path template, tags and parameter names as separate fields, each
weighted by how much a match there says about the tool. Names and paths are split into
words first (`listForOrg`, `list-for-org` and `/orgs/{org}` all become words), and
Tantivy's English stemmer folds "repositories" and "repository" together. A tool without a
summary (much of Stripe) has its description's first sentence indexed as one, since that
sentence says what the operation does; and a path's OData segments (`$ref`, `$value`) are
not what an operation acts on (`/groups/{id}/members/$ref` acts on members).

A query also searches, weighted lower, the synonyms of its words (general API vocabulary:
"repo" and "repository", "picture" and "photo") and each pair of its words written as one
("pay out" finds "payout"); a word the API writes joined is also indexed as the two words
it is made of, when the API writes both apart elsewhere ("invoiceitems" is found by
"invoice items"). BM25 sums per word, so one rare word can outweigh the rest, and
it cannot tell a resource's own endpoint from the same operation reached through a chain of
navigation properties (Microsoft Graph lists "delete a user's message" under a dozen
parents): the best CANDIDATES are re-ranked by how many of the query's words the tool's
name, summary, path, tags and parameters hold, with a preference for shorter path templates
and for the HTTP method a query's verb asks for. The weights were tuned on
bench/search_queries.json; bench/search_bench.py measures them.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gateway.runtime import SearchHit, ToolRuntime

MAX_QUERY_WORDS: Final = 32
CANDIDATES: Final = 200
"""How many BM25 candidates are re-ranked; the answer holds at most 20."""
DEPTH_PENALTY: Final = 0.3
"""How much each path segment (beyond the first) of a candidate's path template divides by."""
VERB_BONUS: Final = 0.5
"""Share of score gained when the candidate's HTTP method is the one a query's verb names."""
COVERAGE_WEIGHT: Final = 0.6
"""How much of a candidate's score depends on how many of the query's words its name,
summary, path, tags and parameters hold (BM25 sums per word, so one rare word can outweigh
all the others)."""
SYNONYM_WEIGHT: Final = 0.6
"""Weight of a word added for a synonym, against 1 for the words asked."""
JOINED_PART: Final = 3
"""Shortest part a joined word of a tool's name or path is split into."""

FIELD_BOOSTS: Final = {
    "name": 2.0,
    "summary": 2.0,
    "resource": 2.0,
    "path": 1.0,
    "tags": 1.0,
    "parameters": 0.5,
    "description": 0.5,
}

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_TAG = re.compile(r"<[^>]{0,200}>")
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)])[.!?](?:\s|$)")
_STOP_WORDS: Final = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from"),
        *("how", "i", "in", "is", "it", "of", "on", "or", "our", "please", "show"),
        *("that", "the", "their", "this", "to", "want", "we", "what", "which", "with"),
        *("would", "you", "your"),
    }
)
# Words people and API authors use for the same thing; a query's word also searches the
# others of its group (weighted lower). General API vocabulary, not any one API's.
_SYNONYM_GROUPS: Final = (
    ("repo", "repository"),
    ("org", "organization"),
    ("pr", "pull"),
    ("project", "repository", "repo"),
    ("star", "starred", "stargazer"),
    ("picture", "photo", "avatar", "image"),
    ("email", "mail", "message", "mailbox", "inbox"),
    ("meeting", "event", "appointment"),
    ("file", "item", "document"),
    ("folder", "children", "directory"),
    ("profile", "user", "me"),
    ("my", "me", "user"),
    ("find", "search", "lookup"),
    ("move", "transfer"),
    ("who", "member", "people"),
    ("email", "send"),
    ("card", "payment"),
    ("delete", "remove"),
    ("create", "add", "new", "make"),
    ("update", "edit", "modify", "change"),
    ("list", "all", "every"),
    ("config", "configuration", "settings"),
    ("auth", "authentication"),
    ("info", "information", "details"),
)
_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {}
for _group in _SYNONYM_GROUPS:
    for _word in _group:
        _SYNONYMS[_word] = (*_SYNONYMS.get(_word, ()), *(w for w in _group if w != _word))
# A query's verb → the HTTP methods a person asking it most likely means.
_VERB_METHODS: Final = {
    "add": ("POST", "PUT"),
    "create": ("POST", "PUT"),
    "make": ("POST",),
    "new": ("POST",),
    "open": ("POST",),
    "send": ("POST",),
    "post": ("POST",),
    "leave": ("POST",),
    "write": ("POST", "PUT"),
    "submit": ("POST",),
    "publish": ("POST",),
    "reply": ("POST",),
    "register": ("POST",),
    "invite": ("POST",),
    "put": ("POST", "PUT"),
    "store": ("PUT", "POST"),
    "close": ("PATCH", "POST"),
    "who": ("GET",),
    "which": ("GET",),
    "what": ("GET",),
    "start": ("POST",),
    "upload": ("PUT", "POST"),
    "delete": ("DELETE",),
    "remove": ("DELETE",),
    "cancel": ("POST", "DELETE"),
    "update": ("PATCH", "PUT", "POST"),
    "change": ("PATCH", "PUT", "POST"),
    "edit": ("PATCH", "PUT"),
    "rename": ("PATCH",),
    "set": ("PUT", "PATCH", "POST"),
    "get": ("GET",),
    "list": ("GET",),
    "find": ("GET",),
    "fetch": ("GET",),
    "read": ("GET",),
    "search": ("GET",),
    "retrieve": ("GET",),
    "see": ("GET",),
    "show": ("GET",),
    "view": ("GET",),
    "check": ("GET",),
    "download": ("GET",),
    "count": ("GET",),
}


def words(text: str) -> list[str]:
    """TEXT as lowercase words: camelCase, snake_case, kebab-case and paths split apart."""
    return [word.lower() for word in _WORD.findall(_TAG.sub(" ", text))]


@dataclass(frozen=True, slots=True)
class ToolDocument:
    """What search knows of one tool."""

    tool: ToolRuntime
    method: str
    path: str
    summary: str
    tags: Sequence[str]


class ToolIndex:
    """A BM25 index of a server's tools, queried with `search`."""

    def __init__(self, documents: Sequence[ToolDocument]) -> None:
        # Imported with the first index: a worker whose servers all list their tools never
        # searches and does not hold tantivy (3.5 MB).
        import tantivy

        builder = tantivy.SchemaBuilder()
        for name in FIELD_BOOSTS:
            builder.add_text_field(name, tokenizer_name="en_stem", index_option="freq")
        builder.add_unsigned_field("position", stored=True)
        self._index = tantivy.Index(builder.build())  # no path: held in memory
        self._documents = tuple(documents)
        self._hits = tuple(_hit(document) for document in self._documents)
        self._depths = tuple(_depth(document.path) for document in self._documents)
        self._analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stemmer("english"))
            .build()
        )
        fields = [_fields(document) for document in self._documents]
        split = _JoinedWords(fields)
        self._stems = tuple(
            frozenset(self._analyzer.analyze(" ".join(split(_core_words(field)))))
            for field in fields
        )
        writer = self._index.writer(heap_size=50_000_000, num_threads=1)
        for position, field in enumerate(fields):
            for joined in ("name", "path", "resource"):
                field[joined] = split(field[joined])
            writer.add_document(
                tantivy.Document(
                    **{name: " ".join(field[name]) for name in FIELD_BOOSTS}, position=position
                )
            )
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()

    def search(
        self, query: str, limit: int, allowed: Callable[[ToolRuntime], bool] | None = None
    ) -> list[SearchHit]:
        """The LIMIT best tools for QUERY, best first; only tools ALLOWED admits (None: all)."""
        query_words = words(query)[: MAX_QUERY_WORDS * 2]
        terms = [word for word in query_words if word not in _STOP_WORDS][:MAX_QUERY_WORDS]
        if not terms or limit < 1:
            return []
        methods = _wanted_methods(query_words)
        wanted = [{self._stem(word) for word in (term, *_SYNONYMS.get(term, ()))} for term in terms]

        expanded = [*terms]
        for term in terms:
            expanded += [
                f"{synonym}^{SYNONYM_WEIGHT}"
                for synonym in _SYNONYMS.get(term, ())
                if synonym not in terms
            ]
        # Two words people write apart are often one in an API: "pay out", "to do", "web hook".
        expanded += [f"{a}{b}^{SYNONYM_WEIGHT}" for a, b in itertools.pairwise(query_words)]
        parsed = self._index.parse_query(
            " ".join(expanded), list(FIELD_BOOSTS), field_boosts=FIELD_BOOSTS
        )
        # A caller limited to some tools needs the whole ranking to find LIMIT of its own.
        fetch = len(self._documents) if allowed is not None else max(CANDIDATES, limit)
        ranked: list[tuple[float, int]] = []
        for score, address in self._searcher.search(parsed, fetch).hits:
            position = self._searcher.doc(address)["position"][0]
            if allowed is not None and not allowed(self._documents[position].tool):
                continue
            ranked.append((self._rerank(score, position, methods, wanted), position))
        ranked.sort(key=lambda item: (-item[0], item[1]))
        return [self._hits[position] for _, position in ranked[:limit]]

    def _stem(self, word: str) -> str:
        stems = self._analyzer.analyze(word)
        return stems[0] if stems else word

    def _rerank(
        self, score: float, position: int, methods: tuple[str, ...], wanted: list[set[str]]
    ) -> float:
        stems = self._stems[position]
        covered = sum(1 for alternatives in wanted if alternatives & stems) / len(wanted)
        factor = 1.0 - COVERAGE_WEIGHT + COVERAGE_WEIGHT * covered
        factor /= 1.0 + DEPTH_PENALTY * self._depths[position]
        if methods and self._documents[position].method in methods:
            factor *= 1.0 + VERB_BONUS
        return score * factor


class _JoinedWords:
    """Adds, after a word an API writes joined ("invoiceitems", "webhooks", "codespaces"),
    the two words it is made of when the API also writes both apart, so that a query's
    "invoice items" finds it. The words known are those of the tools' names, paths and
    summaries used at least twice; each part is at least JOINED_PART letters."""

    def __init__(self, fields: Iterable[dict[str, list[str]]]) -> None:
        counts = Counter(
            word for field in fields for word in {*field["name"], *field["path"], *field["summary"]}
        )
        self._known = frozenset(w for w, n in counts.items() if n >= 2 and len(w) >= JOINED_PART)
        self._parts: dict[str, tuple[str, ...]] = {}

    def __call__(self, found: list[str]) -> list[str]:
        return [*found, *(part for word in found for part in self._split(word))]

    def _split(self, word: str) -> tuple[str, ...]:
        parts = self._parts.get(word)
        if parts is None:
            parts = next(
                (
                    (word[:cut], word[cut:])
                    for cut in range(JOINED_PART, len(word) - JOINED_PART + 1)
                    if word[:cut] in self._known and word[cut:] in self._known
                ),
                (),
            )
            self._parts[word] = parts
        return parts


def _fields(document: ToolDocument) -> dict[str, list[str]]:
    """What is indexed of DOCUMENT, as words, by field."""
    tool = document.tool
    return {
        "name": words(tool.name),
        "summary": words(_summary(document)),
        "resource": words(_resource(document.path)),
        "path": words(document.path),
        "tags": [word for tag in document.tags for word in words(tag)],
        "parameters": [word for name in _parameter_names(tool) for word in words(name)],
        "description": words(tool.description or ""),
    }


def _core_words(field: dict[str, list[str]]) -> list[str]:
    """The words of FIELD that say what a tool is: all but the description and resource."""
    return [
        *field["name"],
        *field["summary"],
        *field["path"],
        *field["tags"],
        *field["parameters"],
    ]


def _summary(document: ToolDocument) -> str:
    """The tool's summary; without one (much of Stripe), its description's first sentence."""
    summary = document.summary or document.tool.title
    if summary:
        return summary
    first = one_line(document.tool.description)
    return _SENTENCE_END.split(first, maxsplit=1)[0]


def _wanted_methods(terms: Iterable[str]) -> tuple[str, ...]:
    for term in terms:
        methods = _VERB_METHODS.get(term)
        if methods is not None:
            return methods
    return ()


def _literals(path: str) -> list[str]:
    """PATH's literal segments, without parameters and OData's `$ref`, `$value`, `$count`."""
    return [
        part
        for part in path.split("/")
        if part and not part.startswith(("{", "$")) and not part.endswith("}")
    ]


def _resource(path: str) -> str:
    """The last literal segment of PATH: what the operation acts on (`/users/{id}` → users,
    `/groups/{id}/members/$ref` → members, `/me/microsoft.graph.sendMail` → sendMail)."""
    literal = _literals(path)
    return literal[-1].split("(", 1)[0].rsplit(".", 1)[-1] if literal else ""


def _depth(path: str) -> int:
    """Segments of PATH beyond the first: `/repos/{owner}/{repo}/forks` is 3."""
    return max(len([part for part in path.split("/") if part]) - 1, 0)


def _parameter_names(tool: ToolRuntime) -> Iterable[str]:
    properties: Any = tool.input_schema.get("properties")
    return properties.keys() if isinstance(properties, dict) else ()


def one_line(text: str | None) -> str:
    """The first line of TEXT, markup removed, at most 200 characters."""
    for line in (text or "").splitlines():
        line = " ".join(_TAG.sub(" ", line).split())
        if line:
            return line if len(line) <= 200 else line[:199] + "…"
    return ""


def _hit(document: ToolDocument) -> SearchHit:
    tool = document.tool
    return SearchHit(
        name=tool.name,
        description=one_line(document.summary or tool.title or tool.description),
        method=document.method,
        path=document.path,
    )
