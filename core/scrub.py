"""Replacing known secrets in whatever an upstream sends back, in every form they take there.

An upstream that echoes a credential rarely echoes it byte for byte: PHP's json_encode writes
`/` as `\\/` and non-ASCII as `\\uXXXX`; Go escapes `<`, `>`, `&` and U+2028/2029; .NET escapes
`+` and `'`; Python's json.dumps escapes everything outside ASCII; a query string holds it
percent-encoded; an HTML error page holds `&amp;`; a basic-auth header holds base64. A
`Scrubber` matches each character of a secret in any of those spellings, so any mixture of them
is caught, with one compiled pattern per set of secrets (built once, see `scrubber_for`).

It scrubs raw text and bytes, and parsed JSON (every string, keys included). The replacement is
the string "[REDACTED]", so a scrubbed string is still a string: structured content that
conformed to a tool's output schema keeps its types (only a `pattern`, `format`, `enum` or
length constraint on that very string could now fail, which the schema check then reports).

No Django here.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MIN_SECRET_LENGTH", "NO_SECRETS", "REDACTED", "Scrubber", "scrubber_for"]

REDACTED = "[REDACTED]"
# Shorter "secrets" would match ordinary text all over a response; real keys are far longer.
MIN_SECRET_LENGTH = 4
# The start of a secret at the very end of a cut-off text is replaced from this many characters
# on: fewer say nothing about a secret (and are often a public prefix such as "sk_"), while
# replacing them would put "[REDACTED]" at the end of every cut text that ends like a key begins.
PARTIAL_MIN_CHARS = 3
# How many first characters of a secret the compiled pattern looks for; the rest is compared
# only where they are found.
PREFIX_CHARS = 6
# The longest spelling of one character: a surrogate pair as two JSON escapes.
MAX_SPELLING = 12

Form = tuple[tuple[str, ...], ...]
"""A secret as the ways each of its characters can be spelled, in order."""

_JSON_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_HTML_ENTITIES = {
    "&": ("&amp;",),
    "<": ("&lt;",),
    ">": ("&gt;",),
    '"': ("&quot;",),
    "'": ("&apos;",),
}


class Scrubber:
    """Replaces a fixed set of secrets, in all their spellings, by REDACTED.

    Cheap to use, not to build: make one per set of secrets and keep it (`scrubber_for` does).
    A Scrubber without secrets (NO_SECRETS) returns everything it is given unchanged.

    One compiled pattern finds where the first few characters of a secret are spelled in any
    way; only there is the whole secret compared. The pattern's size does not grow with the
    secrets' length, so a long token (a JWT) costs no more to compile than a short key.
    """

    __slots__ = ("_forms", "_longest", "_longest_bytes", "_prefix")

    def __init__(self, secrets: Iterable[str]) -> None:
        plain: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                plain.update(_plain_forms(secret))
        # Longest first: where two forms start at the same place, the longer one is replaced.
        ordered = sorted(plain, key=lambda form: (-len(form), form))
        self._forms: tuple[Form, ...] = tuple(
            tuple(_spellings(char) for char in form) for form in ordered
        )
        self._longest = max((_spelled_len(form, str) for form in self._forms), default=0)
        self._longest_bytes = max((_spelled_len(form, bytes) for form in self._forms), default=0)
        self._prefix = _compile(self._forms) if self._forms else None

    def __bool__(self) -> bool:
        return bool(self._forms)

    def scrub(self, value: str) -> str:
        if self._prefix is None:
            return value
        search = self._prefix.search
        found = search(value)
        if found is None:
            return value
        pieces: list[str] = []
        done = 0
        while found is not None:
            start = found.start()
            end = self._match_end(value, start)
            if end is None:
                found = search(value, start + 1)
                continue
            pieces += (value[done:start], REDACTED)
            done = end
            found = search(value, end)
        pieces.append(value[done:])
        return "".join(pieces)

    def scrub_bytes(self, value: bytes) -> bytes:
        if self._prefix is None:
            return value
        # surrogateescape carries bytes that are not UTF-8 through unchanged.
        return self.scrub(value.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )

    def scrub_json(self, value: Any) -> Any:
        """VALUE (parsed JSON: dicts, lists, strings...) with every string scrubbed, keys too."""
        if self._prefix is None:
            return value
        try:
            flat = json.dumps(value)
        except (TypeError, ValueError):
            flat = None
        # One scan of the whole document decides whether any string needs a look: the usual
        # answer is no, and walking every string costs far more than one scan.
        if flat is not None and self.scrub(flat) == flat:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self._walk(key): self._walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(item) for item in value]
        return value

    def preview(self, content: bytes, limit: int, *, cut_short: bool = False) -> str:
        """At most LIMIT bytes of CONTENT as UTF-8 text, scrubbed before it is cut.

        Scrubbing first means a secret that straddles the cut is replaced whole, never shown
        all but its tail. `cut_short` says CONTENT itself was cut (at a size cap), so a secret
        may begin at its very end; that beginning is replaced too.
        """
        if self._prefix is None:
            return _cut(content[:limit].decode("utf-8", "replace"), limit)
        # A secret that starts before the cut ends within one longest spelling after it, so
        # when that window holds none, the rest of CONTENT cannot matter.
        window = content[: limit + self._longest_bytes]
        decoded = window.decode("utf-8", "replace")
        text = self.scrub(decoded)
        whole = len(window) == len(content)
        if text != decoded and not whole:
            # Replacing changed the lengths: where the cut falls in CONTENT is no longer known.
            text, whole = self.scrub(content.decode("utf-8", "replace")), True
        if whole and cut_short:
            text = self.trim_partial(text)
        return _cut(text, limit)

    def trim_partial(self, text: str) -> str:
        """TEXT, cut off mid-secret, with the secret's beginning at its end replaced.

        For text that was cut before it could be scrubbed (an upstream body cut at the size
        cap): a secret whose tail is missing is no whole secret to find.
        """
        if self._prefix is None:
            return text
        start = max(0, len(text) - self._longest)
        # A beginning of PREFIX_CHARS or more characters is where the prefix pattern matches;
        # a shorter one lies within the last few characters.
        near_end = max(start, len(text) - PREFIX_CHARS * MAX_SPELLING)
        positions = set(range(near_end, len(text)))
        found = self._prefix.search(text, start)
        while found is not None:
            positions.add(found.start())
            found = self._prefix.search(text, found.start() + 1)
        for position in sorted(positions):
            if any(_spells(text, position, form, partial=True) for form in self._forms):
                return text[:position] + REDACTED
        return text

    def _match_end(self, text: str, start: int) -> int | None:
        for form in self._forms:
            end = _spells(text, start, form)
            if end is not None:
                return end
        return None


NO_SECRETS = Scrubber(())


@functools.lru_cache(maxsize=256)
def _scrubber(secrets: tuple[str, ...]) -> Scrubber:
    return Scrubber(secrets)


def scrubber_for(secrets: Iterable[str]) -> Scrubber:
    """The Scrubber for these secrets, built on first use and then shared.

    Calls pass the secrets of the credentials they used; the same few sets recur on every call,
    so the pattern is compiled once per set, not once per call.
    """
    key = secrets if isinstance(secrets, tuple) else tuple(secrets)
    if not key or not any(len(secret) >= MIN_SECRET_LENGTH for secret in key):
        return NO_SECRETS
    return _scrubber(key)


# --- Building the patterns ---------------------------------------------------------------------


def _plain_forms(secret: str) -> set[str]:
    """The secret and its base64 forms (a basic-auth header holds base64 of "user:password")."""
    raw = secret.encode()
    encoded = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return {secret, *encoded, *(form.rstrip("=") for form in encoded)}


@functools.lru_cache(maxsize=4096)
def _spellings(char: str) -> tuple[str, ...]:
    """Every way CHAR is written in JSON, a URL or HTML, hex digits in lower case."""
    spellings = [char]
    if char in _JSON_SHORT_ESCAPES:
        spellings.append(_JSON_SHORT_ESCAPES[char])
    utf16 = char.encode("utf-16-be")
    units = [int.from_bytes(utf16[i : i + 2], "big") for i in range(0, len(utf16), 2)]
    spellings.append("".join(f"\\u{unit:04x}" for unit in units))
    spellings.append("".join(f"%{byte:02x}" for byte in char.encode()))
    if char == " ":
        spellings.append("+")
    if char in _HTML_ENTITIES:
        spellings.extend(_HTML_ENTITIES[char])
        spellings.extend((f"&#{ord(char)};", f"&#x{ord(char):x};"))
    return tuple(dict.fromkeys(spellings))


def _spelled_len(form: Form, kind: type) -> int:
    """The length of FORM's longest spelling, in characters or in UTF-8 bytes."""
    if kind is bytes:
        return sum(max(len(spelling.encode()) for spelling in options) for options in form)
    return sum(max(len(spelling) for spelling in options) for options in form)


def _fragment(spelling: str) -> str:
    """A pattern for SPELLING; the hex digits of an escape match in either case."""
    if len(spelling) == 1 or spelling[0] not in "\\%&":
        return re.escape(spelling)
    head = spelling[:2] if spelling[0] == "\\" else spelling[:1]
    tail = spelling[len(head) :]
    return re.escape(head) + "".join(
        f"[{c}{c.upper()}]" if c in "abcdefx" else re.escape(c) for c in tail
    )


def _group(options: tuple[str, ...]) -> str:
    return "(?:" + "|".join(_fragment(spelling) for spelling in options) + ")"


def _compile(forms: tuple[Form, ...]) -> re.Pattern[str]:
    """A pattern for the first PREFIX_CHARS characters of each form, in any spelling.

    Its branches are grouped by the literal character they start with, so the regex engine
    skips quickly over the text where none can start, and where one can, tries only the few
    branches that start there instead of every one.
    """
    by_first: dict[str, dict[str, None]] = {}
    for form in forms:
        head = form[:PREFIX_CHARS]
        rest = "".join(_group(options) for options in head[1:])
        for first in head[0]:
            fragment = _fragment(first) + rest
            literal = re.escape(first[0])
            by_first.setdefault(literal, {})[fragment[len(literal) :]] = None
    return re.compile(
        "|".join(literal + "(?:" + "|".join(tails) + ")" for literal, tails in by_first.items())
    )


def _spells(text: str, position: int, form: Form, *, partial: bool = False) -> int | None:
    """Where FORM, spelled in any of its ways from POSITION on in TEXT, ends (or None).

    With `partial`, whether TEXT ends partway through such a spelling instead (returned as the
    end of TEXT), after at least PARTIAL_MIN_CHARS characters.
    """
    end = len(text)
    pending = [(position, 0)]
    while pending:
        position, index = pending.pop()
        if index == len(form):
            if not partial:
                return position
            continue
        if position == end:
            if partial and index >= PARTIAL_MIN_CHARS:
                return end
            continue
        for spelling in form[index]:
            piece = text[position : position + len(spelling)]
            if piece == spelling or (len(spelling) > 1 and piece.lower() == spelling):
                pending.append((position + len(spelling), index + 1))
            elif (
                # The end may fall inside an escape: \u00 of \u0041.
                partial
                and index >= PARTIAL_MIN_CHARS
                and position + len(piece) == end
                and spelling.startswith(piece.lower())
            ):
                return end
    return None


def _cut(text: str, limit: int) -> str:
    """TEXT cut to at most LIMIT bytes of UTF-8, neither mid-character nor mid-REDACTED."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text
    head = encoded[:limit].decode("utf-8", "ignore")
    marker = head.rfind("[", max(0, len(head) - len(REDACTED) + 1))
    if marker != -1 and text.startswith(REDACTED, marker):
        head = head[:marker]
    return head
