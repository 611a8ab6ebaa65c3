import base64

import pytest

from tools.calling import CallTarget
from tools.results import OutputSchema, error_result, scrub, to_call_result

JSON = {"Content-Type": "application/json"}
WRAPPED_ARRAY_SCHEMA = {
    "type": "object",
    "properties": {"result": {"type": "array", "items": {"type": "integer"}}},
    "required": ["result"],
}
USER_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id"],
}


def result(body: bytes, headers=None, *, status_code=200, truncated=False, **kwargs):
    return to_call_result(
        status_code=status_code,
        headers=JSON if headers is None else headers,
        body=body,
        truncated=truncated,
        output_schema=kwargs.pop("output_schema", None),
        **kwargs,
    )


def text(value: str) -> dict:
    return {"type": "text", "text": value}


# --- JSON --------------------------------------------------------------------------------------


def test_a_json_object_becomes_text_and_structured_content():
    assert result(b'{"id": 7, "name": "Ada"}') == {
        "content": [text('{"id": 7, "name": "Ada"}')],
        "structuredContent": {"id": 7, "name": "Ada"},
        "isError": False,
    }


@pytest.mark.parametrize(
    ("body", "structured"),
    [(b"[1, 2]", {"result": [1, 2]}), (b"42", {"result": 42}), (b"null", {"result": None})],
)
def test_a_json_root_that_is_not_an_object_is_wrapped(body, structured):
    assert result(body) == {
        "content": [text(body.decode())],
        "structuredContent": structured,
        "isError": False,
    }


@pytest.mark.parametrize(
    "content_type",
    ["application/problem+json", "application/vnd.api+json; charset=utf-8", "text/json"],
)
def test_json_flavoured_media_types_count_as_json(content_type):
    assert result(b'{"a": 1}', {"content-type": content_type})["structuredContent"] == {"a": 1}


def test_json_with_a_byte_order_mark_still_parses():
    body = b'\xef\xbb\xbf{"a": 1}'

    assert result(body)["structuredContent"] == {"a": 1}


def test_structured_content_that_conforms_to_the_output_schema_is_sent():
    assert result(b"[1, 2]", output_schema=WRAPPED_ARRAY_SCHEMA) == {
        "content": [text("[1, 2]")],
        "structuredContent": {"result": [1, 2]},
        "isError": False,
    }


def test_a_response_that_breaks_the_output_schema_is_an_error():
    assert result(b'{"id": "seven"}', output_schema=USER_SCHEMA) == {
        "content": [
            text('{"id": "seven"}'),
            text(
                "[Error: the tool declares an output schema, but the response does not match "
                "it: 'seven' is not of type 'integer'.]"
            ),
        ],
        "isError": True,
    }


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"result": ["x"]}', b"{}"])
def test_a_compiled_output_schema_judges_as_the_schema_itself(body):
    compiled = OutputSchema.compile(WRAPPED_ARRAY_SCHEMA)

    assert result(body, output_schema=compiled) == result(body, output_schema=WRAPPED_ARRAY_SCHEMA)


def test_a_call_target_compiles_its_output_schema_once():
    target = CallTarget(
        server_id="s",
        user_id="u",
        server_name="Server",
        tool_id="t",
        tool_name="getUser",
        base_url="https://api.example.com",
        method="GET",
        path="/users/{id}",
        mapping={},
        security=None,
        output_schema=USER_SCHEMA,
        select_arg="_select",
    )

    first = target.compiled_output_schema

    assert first is not None and first is target.compiled_output_schema
    assert first.validator.is_valid({"id": 7}) and not first.validator.is_valid({"id": "7"})


def test_a_non_json_response_for_a_tool_with_an_output_schema_is_an_error():
    assert result(b"hello", {"Content-Type": "text/plain"}, output_schema=USER_SCHEMA) == {
        "content": [
            text("hello"),
            text(
                "[Error: the tool declares an output schema, but the upstream response is not "
                "a JSON document.]"
            ),
        ],
        "isError": True,
    }


def test_mislabelled_json_satisfies_a_tool_with_an_output_schema():
    headers = {"Content-Type": "text/plain"}

    assert result(b'{"id": 1}', headers, output_schema=USER_SCHEMA) == {
        "content": [text('{"id": 1}')],
        "structuredContent": {"id": 1},
        "isError": False,
    }


def test_invalid_json_under_a_json_content_type_is_an_error_showing_the_body():
    assert result(b'{"id": 1,') == {
        "content": [
            text(
                '{"id": 1,\n\n[Error: the upstream declared application/json but the body is '
                "not valid JSON.]"
            )
        ],
        "isError": True,
    }


def test_a_body_cut_at_the_size_cap_is_an_error_showing_what_arrived():
    assert result(b'{"items": [1, 2, 3', truncated=True) == {
        "content": [
            text(
                '{"items": [1, 2, 3\n\n[Truncated: the upstream response was larger than the '
                "size limit and was cut off.]"
            )
        ],
        "isError": True,
    }
    cut_text = result(b"plain words", {"Content-Type": "text/plain"}, truncated=True)
    assert cut_text["isError"] is True


def test_long_json_text_is_cut_but_keeps_its_structure():
    body = b'{"a": "' + b"x" * 20 + b'"}'

    assert result(body, max_text_chars=10) == {
        "content": [
            text(
                '{"a": "xxx\n\n[Truncated: the response has 29 characters; only the first 10 '
                "are shown.]"
            )
        ],
        "structuredContent": {"a": "x" * 20},
        "isError": False,
    }


# --- Text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/html; charset=utf-8",
        "application/xml",
        "application/atom+xml",
        "image/svg+xml",
        "application/yaml",
        "text/csv",
        "application/javascript",
    ],
)
def test_textual_types_become_text(content_type):
    assert result(b"a,b\n1,2", {"Content-Type": content_type}) == {
        "content": [text("a,b\n1,2")],
        "isError": False,
    }


def test_text_is_decoded_with_its_charset():
    body = "café".encode("latin-1")

    assert result(body, {"Content-Type": "text/plain; charset=ISO-8859-1"}) == {
        "content": [text("café")],
        "isError": False,
    }


def test_undecodable_text_falls_back_to_utf8_with_replacement():
    headers = {"Content-Type": "text/plain; charset=no-such-charset"}

    assert result(b"caf\xe9", headers)["content"] == [text("caf\ufffd")]


def test_an_undeclared_utf8_body_is_text():
    assert result(b"plain words", {}) == {"content": [text("plain words")], "isError": False}


def test_long_text_is_truncated_with_a_note():
    assert result(b"abcdefghij", {"Content-Type": "text/plain"}, max_text_chars=4) == {
        "content": [
            text("abcd\n\n[Truncated: the response has 10 characters; only the first 4 are shown.]")
        ],
        "isError": False,
    }


@pytest.mark.parametrize("headers", [{}, JSON])
def test_an_empty_body_says_so(headers):
    assert result(b"", headers, status_code=204) == {
        "content": [text("The upstream API responded 204 No Content with an empty body.")],
        "isError": False,
    }


# --- Binary ------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PNG_B64 = base64.b64encode(PNG).decode()


def test_an_image_becomes_image_content():
    assert result(PNG, {"Content-Type": "image/png"}) == {
        "content": [{"type": "image", "data": PNG_B64, "mimeType": "image/png"}],
        "isError": False,
    }


def test_audio_becomes_audio_content():
    assert result(b"RIFF\x00\x01", {"Content-Type": "audio/wav"}) == {
        "content": [{"type": "audio", "data": "UklGRgAB", "mimeType": "audio/wav"}],
        "isError": False,
    }


@pytest.mark.parametrize(
    ("headers", "mime_type"),
    [({"Content-Type": "application/pdf"}, "application/pdf"), ({}, "application/octet-stream")],
)
def test_other_binary_becomes_an_embedded_resource_blob(headers, mime_type):
    assert result(PNG, headers) == {
        "content": [
            {
                "type": "resource",
                "resource": {"uri": "specgate://response", "mimeType": mime_type, "blob": PNG_B64},
            }
        ],
        "isError": False,
    }


def test_a_truncated_image_is_not_forwarded():
    assert result(PNG, {"Content-Type": "image/png"}, truncated=True) == {
        "content": [
            text(
                "The upstream API returned image/png content larger than the size limit "
                "(more than 16 bytes), so it was not forwarded."
            )
        ],
        "isError": True,
    }


# --- Upstream errors ---------------------------------------------------------------------------


def test_a_json_error_shows_the_status_and_its_message():
    body = b'{"error": {"type": "invalid_request", "message": "No such customer: cus_1"}}'

    assert result(body, status_code=404) == {
        "content": [
            text(
                "The upstream API responded with HTTP 404 Not Found.\n"
                "Message: No such customer: cus_1\n"
                f"Body: {body.decode()}"
            )
        ],
        "isError": True,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"title": "Bad", "detail": "name is required"}', "name is required"),
        (b'{"error": "invalid_grant", "error_description": "expired"}', "expired"),
        (b'{"errors": [{"msg": "too long"}]}', "too long"),
        (b'{"error": "boom"}', "boom"),
    ],
)
def test_common_error_shapes_yield_their_message(body, message):
    first_lines = result(body, status_code=400)["content"][0]["text"].split("\n")[:2]

    assert first_lines == [
        "The upstream API responded with HTTP 400 Bad Request.",
        f"Message: {message}",
    ]


def test_a_text_error_shows_an_excerpt():
    body = b"x" * 2_500

    assert result(body, {"Content-Type": "text/html"}, status_code=503) == {
        "content": [
            text(
                "The upstream API responded with HTTP 503 Service Unavailable.\n"
                f"Body: {'x' * 2_000} [...]"
            )
        ],
        "isError": True,
    }


def test_a_binary_error_names_its_size():
    assert result(PNG, {"Content-Type": "image/png"}, status_code=500) == {
        "content": [
            text(
                "The upstream API responded with HTTP 500 Internal Server Error.\n"
                "Body: 16 bytes of image/png."
            )
        ],
        "isError": True,
    }


def test_an_error_without_body_or_known_reason():
    assert result(b"", {}, status_code=599) == {
        "content": [text("The upstream API responded with HTTP 599.")],
        "isError": True,
    }


def test_an_error_ignores_the_output_schema():
    body = b'{"message": "nope"}'

    assert result(body, status_code=401, output_schema=USER_SCHEMA)["isError"] is True


def test_no_response_at_all_is_an_error():
    assert result(b"", status_code=None) == error_result("The upstream API sent no response.")


def test_error_result():
    assert error_result("The upstream API did not answer within 30 s.") == {
        "content": [text("The upstream API did not answer within 30 s.")],
        "isError": True,
    }


# --- Secrets -----------------------------------------------------------------------------------

SECRET = "sk_live/abc+def=="


def test_scrub_replaces_the_secret_and_its_derived_forms():
    b64 = base64.b64encode(SECRET.encode()).decode()
    urlsafe = base64.urlsafe_b64encode(SECRET.encode()).decode()
    value = f"raw={SECRET} url=sk_live%2Fabc%2Bdef%3D%3D path=sk_live/abc%2Bdef%3D%3D "
    value += f"b64={b64} urlsafe={urlsafe} unpadded={b64.rstrip('=')}"

    assert scrub(value, [SECRET]) == (
        "raw=[REDACTED] url=[REDACTED] path=[REDACTED] b64=[REDACTED] "
        "urlsafe=[REDACTED] unpadded=[REDACTED]"
    )


def test_scrub_works_on_bytes():
    assert scrub(b"token: " + SECRET.encode(), [SECRET]) == b"token: [REDACTED]"


def test_scrub_ignores_empty_and_tiny_secrets():
    assert scrub("a b c", ["", "a"]) == "a b c"


def test_an_echoed_secret_never_reaches_the_client():
    body = f'{{"echo": "{SECRET}", "auth": "Bearer {SECRET}"}}'.encode()

    assert result(body, secrets=[SECRET]) == {
        "content": [text('{"echo": "[REDACTED]", "auth": "Bearer [REDACTED]"}')],
        "structuredContent": {"echo": "[REDACTED]", "auth": "Bearer [REDACTED]"},
        "isError": False,
    }


def test_an_echoed_secret_is_scrubbed_from_error_excerpts():
    body = f'{{"message": "invalid key {SECRET}"}}'.encode()

    message = result(body, status_code=401, secrets=[SECRET])["content"][0]["text"]

    assert SECRET not in message
    assert "Message: invalid key [REDACTED]" in message


def test_a_json_escaped_secret_is_scrubbed():
    secret = 'pa"ss\\word'
    body = b'{"echo": "pa\\"ss\\\\word"}'

    assert result(body, secrets=[secret])["structuredContent"] == {"echo": "[REDACTED]"}
