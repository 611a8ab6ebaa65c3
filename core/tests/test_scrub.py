"""core.scrub: a secret is replaced in every spelling an upstream may give it."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

import pytest

from core.scrub import NO_SECRETS, REDACTED, Scrubber, scrubber_for
from core.testing import go_json, php_json

SECRET = "sk/l&i<v>e+é\u2019\u2028😀z"
SCRUBBER = Scrubber([SECRET])


def every_char_escaped(value: str, upper: bool) -> str:
    units = value.encode("utf-16-be").hex()
    hexes = [units[i : i + 4] for i in range(0, len(units), 4)]
    return '"' + "".join(f"\\u{h.upper() if upper else h}" for h in hexes) + '"'


def dotnet(value: str) -> str:
    # System.Text.Json's default encoder: "+", "'", "<", ">", "&" and non-ASCII as \uXXXX.
    return json.dumps(value).replace("+", "\\u002B").replace("&", "\\u0026").replace("<", "\\u003C")


SPELLINGS = {
    "raw": SECRET,
    "python": json.dumps(SECRET),
    "python, non-ASCII raw": json.dumps(SECRET, ensure_ascii=False),
    "php": php_json(SECRET),
    "go": go_json(SECRET),
    ".net": dotnet(SECRET),
    "all escaped, lower-case hex": every_char_escaped(SECRET, upper=False),
    "all escaped, upper-case hex": every_char_escaped(SECRET, upper=True),
    "query string": quote_plus(SECRET),
    "path": quote(SECRET),
    "percent, lower-case hex": quote(SECRET, safe="").lower(),
    "html": html.escape(SECRET),
    "base64": base64.b64encode(SECRET.encode()).decode(),
    "base64, unpadded": base64.b64encode(SECRET.encode()).decode().rstrip("="),
    "base64 url-safe": base64.urlsafe_b64encode(SECRET.encode()).decode(),
    "base64 in php": php_json(base64.b64encode(SECRET.encode()).decode()),
}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_it_replaces_every_spelling(spelling):
    scrubbed = SCRUBBER.scrub(f"before {spelling} after")

    # The quotes of a JSON string stay: only what is between them is the secret.
    assert scrubbed.replace(f'"{REDACTED}"', REDACTED) == f"before {REDACTED} after"


def test_it_replaces_a_mixture_of_escapes_in_one_secret():
    mixed = "s\\u006b\\/l%26i&lt;v\\u003E" + "e+\\u00e9\u2019\\u2028\\ud83d\\ude00z"

    assert SCRUBBER.scrub(f"[{mixed}]") == f"[{REDACTED}]"


def test_it_replaces_the_longer_of_two_secrets_that_start_alike():
    scrubber = Scrubber(["alice", "alice:pw-1234"])

    assert scrubber.scrub("u=alice:pw-1234 v=alice") == f"u={REDACTED} v={REDACTED}"


def test_it_finds_a_secret_that_starts_inside_a_false_start():
    scrubber = Scrubber(["abcabd"])

    assert scrubber.scrub("abcabcabd") == f"abc{REDACTED}"


def test_it_leaves_text_without_secrets_alone():
    text = 'ordinary "text" with \\/ escapes, %20 and &amp; but no key'

    assert SCRUBBER.scrub(text) is text
    assert NO_SECRETS.scrub(text) is text


def test_it_ignores_empty_and_tiny_secrets():
    assert scrubber_for(["", "abc"]) is NO_SECRETS
    assert not scrubber_for(["", "abc"])


def test_it_is_built_once_per_set_of_secrets():
    assert scrubber_for(("one-secret", "two-secret")) is scrubber_for(["one-secret", "two-secret"])


def test_it_scrubs_bytes_and_keeps_what_is_not_utf8():
    body = b"\xff\x00" + php_json(SECRET).encode() + b"\xfe"

    assert SCRUBBER.scrub_bytes(body) == b'\xff\x00"' + REDACTED.encode() + b'"\xfe'


def test_it_scrubs_every_parsed_string_keys_too():
    value = {"a": [1, {"b": f"Bearer {SECRET}"}], SECRET: None, "n": 2.5}

    assert SCRUBBER.scrub_json(value) == {
        "a": [1, {"b": f"Bearer {REDACTED}"}],
        REDACTED: None,
        "n": 2.5,
    }


def test_parsed_values_without_secrets_come_back_as_they_are():
    value = {"a": ["b", {"c": "d"}]}

    assert SCRUBBER.scrub_json(value) is value


def test_a_long_token_is_replaced_whole():
    token = "eyJhbGciOiJIUzI1NiJ9." + "a1B2/c3D4" * 150
    scrubber = Scrubber([token])

    assert scrubber.scrub("Bearer " + php_json(token)) == f'Bearer "{REDACTED}"'
    assert scrubber.scrub("Bearer " + php_json(token)[:-10] + '"') != f'Bearer "{REDACTED}"'


# --- Cutting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("before", [4086, 4090, 4095])
def test_a_preview_is_scrubbed_before_it_is_cut(before):
    body = b"x" * before + php_json(SECRET).encode() + b" tail"

    preview = SCRUBBER.preview(body, 4096)

    assert len(preview.encode()) <= 4096
    # The secret is gone whole; a marker that would be cut is left out rather than cut.
    assert preview in ("x" * before + '"' + REDACTED, "x" * before + '"', "x" * before)


def test_a_preview_cut_inside_a_character_drops_that_character():
    assert NO_SECRETS.preview("é".encode() * 3, 5) == "éé"


def test_a_preview_of_a_body_whose_replacements_shrink_it_is_still_scrubbed_to_the_end():
    long_secret = "k" * 200
    scrubber = Scrubber([long_secret])
    body = (long_secret + " ") * 30 + "abc"

    preview = scrubber.preview(body.encode(), 4096)

    assert "k" not in preview
    assert preview.endswith("abc")


@pytest.mark.parametrize("kept", range(len("sk\\/"), len(php_json(SECRET)) - 2))
def test_a_text_cut_mid_secret_loses_the_secret_s_beginning(kept):
    # From three characters of the secret on ("sk\/"), cut anywhere, even inside an escape.
    text = "head " + php_json(SECRET)[1:-1][:kept]

    assert SCRUBBER.trim_partial(text) == f"head {REDACTED}"


def test_a_text_cut_within_two_characters_of_a_secret_keeps_them():
    # Two characters say nothing about a key; a text that ends like one begins is not cut.
    assert SCRUBBER.trim_partial("head sk") == "head sk"


def test_a_cut_off_body_preview_loses_a_secret_at_its_end():
    body = b"x" * 100 + SECRET.encode()[:8]

    assert SCRUBBER.preview(body, 4096, cut_short=True) == "x" * 100 + REDACTED
    assert SCRUBBER.preview(body, 4096) == body.decode()
