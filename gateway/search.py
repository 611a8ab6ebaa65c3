"""Ranked search over one server's tools, for the dynamic mode's `search_tools`.

BM25 by Tantivy (the Rust search engine, through its official Python bindings), over an
index held in memory and built once per gateway snapshot, never per call: the same on
every database, since nothing here touches one. Each tool is one document with its name,
summary, description, path template, tags and parameter names as separate fields, each
weighted by how much a match there says about the tool. Names and paths are split into
words first (`listForOrg`, `list-for-org` and `/orgs/{org}` all become words), and
Tantivy's English stemmer folds "repositories" and "repository" together.

A query also searches, weighted lower, the synonyms of its words (general API vocabulary:
"repo" and "repository", "picture" and "photo") and each pair of its words written as one
("pay out" finds "payout"). BM25 sums per word, so one rare word can outweigh the rest, and
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import tantivy

from gateway.runtime import SearchHit, ToolRuntime

MAX_QUERY_WORDS: Final = 32
CANDIDATES: Final = 200
"""How many BM25 candidates are re-ranked; the answer holds at most 20."""
DEPTH_PENALTY: Final = 0.3
"""How much each path segment (beyond the first) of a candidate's path template divides by."""
VERB_BONUS: Final = 0.3
"""Share of score gained when the candidate's HTTP method is the one a query's verb names."""
COVERAGE_WEIGHT: Final = 0.6
"""How much of a candidate's score depends on how many of the query's words its name,
summary, path, tags and parameters hold (BM25 sums per word, so one rare word can outweigh
all the others)."""
SYNONYM_WEIGHT: Final = 0.6
"""Weight of a word added for a synonym, against 1 for the words asked."""

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
        self._stems = tuple(
            frozenset(self._analyzer.analyze(" ".join(_core_words(document))))
            for document in self._documents
        )
        writer = self._index.writer(heap_size=50_000_000, num_threads=1)
        for position, document in enumerate(self._documents):
            writer.add_document(
                tantivy.Document(
                    name=" ".join(words(document.tool.name)),
                    summary=" ".join(words(document.summary or document.tool.title or "")),
                    description=" ".join(words(document.tool.description or "")),
                    path=" ".join(words(document.path)),
                    resource=" ".join(words(_resource(document.path))),
                    tags=" ".join(word for tag in document.tags for word in words(tag)),
                    parameters=" ".join(
                        word for name in _parameter_names(document.tool) for word in words(name)
                    ),
                    position=position,
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


def _core_words(document: ToolDocument) -> list[str]:
    tool = document.tool
    return [
        *words(tool.name),
        *words(document.summary or tool.title or ""),
        *words(document.path),
        *(word for tag in document.tags for word in words(tag)),
        *(word for name in _parameter_names(tool) for word in words(name)),
    ]


def _wanted_methods(terms: Iterable[str]) -> tuple[str, ...]:
    for term in terms:
        methods = _VERB_METHODS.get(term)
        if methods is not None:
            return methods
    return ()


def _resource(path: str) -> str:
    """The last literal segment of PATH: what the operation acts on (`/users/{id}` → users)."""
    literal = [part for part in path.split("/") if part and not part.startswith("{")]
    return literal[-1].rsplit(".", 1)[-1] if literal else ""


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
