"""Compact tool schemas: reachable $defs only, depth and size cuts, and never a narrower schema."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from specs.engine import convert
from specs.engine.compact import Compactor, SchemaBudgets, json_size

WIDE = SchemaBudgets(max_depth=50, max_input_bytes=10**9, max_output_bytes=10**9)


def refs_in(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if isinstance(current.get("$ref"), str):
                found.add(current["$ref"])
            stack.extend(current.values())  # no test schema holds a "$ref" as instance data
        elif isinstance(current, list):
            stack.extend(current)
    return found


def assert_well_formed(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    defs = schema.get("$defs", {})
    for ref in refs_in(schema):
        assert ref.startswith("#/$defs/") and ref[8:] in defs, ref


def accepts(schema: dict[str, Any], instance: Any) -> bool:
    return Draft202012Validator(schema).is_valid(instance)


def document(schemas: dict[str, Any], *, body: str, response: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shop", "version": "1"},
        "paths": {
            "/customers": {
                "post": {
                    "operationId": "createCustomer",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"#/components/schemas/{response}"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {"schemas": schemas},
    }


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# A customer graph the shape of Stripe's: every object can expand into the others.
GRAPH = {
    "Customer": obj(id={"type": "string"}, address=ref("Address"), invoices=ref("InvoiceList")),
    "Address": obj(line1={"type": "string"}, country=ref("Country")),
    "Country": obj(code={"type": "string"}, region=ref("Region")),
    "Region": obj(name={"type": "string"}, parent=ref("Region")),
    "InvoiceList": {"type": "array", "items": ref("Invoice")},
    "Invoice": obj(id={"type": "string"}, customer=ref("Customer"), total={"type": "integer"}),
    "Unused": obj(big={"type": "string", "description": "x" * 5000}),
    "NewCustomer": obj(name={"type": "string"}, address=ref("Address")),
}


def tool(budgets: SchemaBudgets | None) -> Any:
    result = convert(
        document(GRAPH, body="NewCustomer", response="Customer"), schema_budgets=budgets
    )
    (operation,) = result.operations
    return operation


def test_it_carries_only_the_defs_a_schema_reaches():
    operation = tool(WIDE)

    assert set(operation.input_schema["$defs"]) == {"Address", "Country", "Region"}
    assert set(operation.output_schema["$defs"]) == {
        "Address", "Country", "Region", "InvoiceList", "Invoice", "Customer",
    }  # fmt: skip
    assert_well_formed(operation.input_schema)
    assert_well_formed(operation.output_schema)


def test_recursion_is_cut_at_the_depth_budget_and_still_accepts_deeper_values():
    budgets = SchemaBudgets(max_depth=1, max_input_bytes=10**9, max_output_bytes=10**9)
    operation = tool(budgets)
    output = operation.output_schema
    defs = output["$defs"]

    # The root names Address and InvoiceList; one step further is opened, the rest is gone.
    assert defs["Address"]["properties"]["country"] == {"$ref": "#/$defs/Country"}
    assert defs["Country"] == {
        "type": "object",
        "description": "A Country object; see the API's documentation for its fields.",
    }
    assert defs["Invoice"]["type"] == "object" and "properties" not in defs["Invoice"]
    assert "Region" not in defs and "Customer" not in defs
    assert_well_formed(output)
    deep = {
        "id": "c1",
        "address": {"line1": "1 Main", "country": {"code": "FR", "region": {"name": "x"}}},
        "invoices": [{"id": "i1", "total": 3, "customer": {"id": "c1", "invoices": []}}],
    }
    assert accepts(tool(None).output_schema, deep)
    assert accepts(output, deep)


def test_a_schema_over_its_size_budget_is_opened_until_it_fits():
    whole = tool(None)
    budgets = SchemaBudgets(max_depth=50, max_input_bytes=400, max_output_bytes=10**9)
    compacted = tool(budgets)

    assert json_size(whole.input_schema) > 400
    assert json_size(compacted.input_schema) <= 400
    assert set(compacted.input_schema["properties"]) == set(whole.input_schema["properties"])
    assert compacted.input_schema.get("required") == whole.input_schema.get("required")
    assert_well_formed(compacted.input_schema)
    arguments = {"name": "Ann", "address": {"line1": "x", "country": {"region": {"name": "n"}}}}
    assert accepts(whole.input_schema, arguments)
    assert accepts(compacted.input_schema, arguments)


def test_arguments_are_opened_largest_first_when_cutting_every_ref_is_not_enough():
    schemas = {
        "Big": obj(
            small={"type": "string"},
            huge=obj(**{f"field{i}": {"type": "string", "maxLength": i} for i in range(200)}),
        ),
        "Out": obj(id={"type": "string"}),
    }
    budgets = SchemaBudgets(max_depth=0, max_input_bytes=800, max_output_bytes=10**9)
    result = convert(document(schemas, body="Big", response="Out"), schema_budgets=budgets)
    schema = result.operations[0].input_schema

    assert json_size(schema) <= 800
    assert schema["properties"]["small"] == {"type": "string"}
    assert schema["properties"]["huge"] == {
        "type": "object",
        "description": "A huge object; see the API's documentation for its fields.",
    }


def many_described_arguments(count: int) -> dict[str, Any]:
    """Like docusign's Settings_PutSettings (675) or EPA's get_facilities (148): a flat body of
    scalar arguments, each with a long description and constraints."""
    words = "When true, the account setting can be overridden by each user of it. " * 4
    fields = {
        f"setting{i}": {"type": "string", "enum": ["true", "false"], "description": words}
        for i in range(count)
    }
    return {"type": "object", "properties": fields, "required": ["setting0"]}


def test_arguments_are_opened_tersely_when_even_opening_all_of_them_does_not_fit():
    schema = many_described_arguments(40)
    documented = Compactor(SchemaBudgets(max_depth=0, max_input_bytes=10**9)).compact(schema, 10**9)
    assert documented == schema  # within the budget, nothing changes
    compacted = Compactor(SchemaBudgets(max_input_bytes=3_000)).input_schema(schema)

    assert json_size(compacted) <= 3_000
    assert list(compacted["properties"]) == list(schema["properties"])
    assert compacted["required"] == ["setting0"]
    described = [p for p in compacted["properties"].values() if "description" in p]
    assert described, "as many arguments as fit keep the start of their description"
    assert all(len(p["description"]) <= 60 for p in described)
    assert all(p["type"] == "string" for p in compacted["properties"].values())
    assert_well_formed(compacted)
    arguments = {f"setting{i}": "true" for i in range(40)}
    assert accepts(schema, arguments) and accepts(compacted, arguments)


def test_terse_arguments_keep_short_descriptions_when_those_fit():
    schema = many_described_arguments(40)
    compacted = Compactor(SchemaBudgets(max_input_bytes=5_000)).input_schema(schema)

    assert json_size(compacted) <= 5_000
    assert all(p["description"].startswith("When true") for p in compacted["properties"].values())


def test_an_input_schema_that_cannot_fit_at_all_is_as_small_as_its_names_allow():
    schema = many_described_arguments(40)
    compacted = Compactor(SchemaBudgets(max_input_bytes=256)).input_schema(schema)

    assert compacted["properties"] == {f"setting{i}": {"type": "string"} for i in range(40)}
    assert_well_formed(compacted)


def test_an_output_schema_is_dropped_rather_than_opened_tersely():
    schema = many_described_arguments(40)
    compactor = Compactor(SchemaBudgets(max_output_bytes=3_000))

    assert compactor.output_schema(schema) is None
    assert compactor.input_schema(schema)["properties"].keys() == schema["properties"].keys()


def test_an_output_schema_over_its_budget_is_shortened_and_a_real_result_still_conforms():
    whole = tool(None).output_schema
    shortened = tool(SchemaBudgets(max_input_bytes=10**9, max_output_bytes=600)).output_schema
    result = {
        "id": "cus_1",
        "address": {"line1": "1 Main", "country": {"code": "FR", "region": {"name": "EU"}}},
        "invoices": [{"id": "in_1", "total": 1200, "customer": {"id": "cus_1", "invoices": []}}],
    }

    assert json_size(whole) > 600
    assert shortened is not None and json_size(shortened) <= 600
    assert_well_formed(shortened)
    assert accepts(whole, result)
    assert accepts(shortened, result)


def test_an_output_schema_that_cannot_fit_is_left_out():
    operation = tool(SchemaBudgets(max_input_bytes=10**9, max_output_bytes=40))

    assert operation.output_schema is None


def test_budgets_are_part_of_the_fingerprint():
    assert tool(WIDE).fingerprint != tool(SchemaBudgets()).fingerprint
    assert tool(SchemaBudgets()).fingerprint == tool(SchemaBudgets()).fingerprint


def test_non_monotone_keywords_are_relaxed_above_an_opened_part():
    nested = obj(a=obj(b=obj(c={"type": "integer"})))
    schema = {
        "type": "object",
        "properties": {
            "choice": {"oneOf": [nested, {"type": "object", "required": ["z"]}]},
            "negated": {"not": nested},
            "conditional": {
                "if": nested,
                "then": {"required": ["a"]},
                "else": {"maxProperties": 0},
            },
        },
        "unevaluatedProperties": False,
    }
    compacted = Compactor(SchemaBudgets(max_depth=1)).compact(schema, 10**9)
    assert compacted is not None
    properties = compacted["properties"]

    assert "oneOf" not in properties["choice"] and len(properties["choice"]["anyOf"]) == 2
    assert "not" not in properties["negated"]
    assert not {"if", "then", "else"} & set(properties["conditional"])
    assert "unevaluatedProperties" not in compacted
    # Valid for the original only while both oneOf branches do not match; still valid after.
    instance = {"choice": {"a": {"b": {"c": 1}}}, "conditional": {"a": {}}}
    assert accepts(schema, instance)
    assert accepts(compacted, instance)


def test_a_property_named_like_a_data_keyword_keeps_the_defs_it_refers_to():
    schema = {
        "type": "object",
        "properties": {
            "default": {"$ref": "#/$defs/Plan"},
            "enum": {"type": "array", "items": {"$ref": "#/$defs/Tier"}},
        },
        "default": {"plan": "x"},
        "$defs": {
            "Plan": obj(name={"type": "string"}),
            "Tier": obj(level={"type": "integer"}),
            "Unused": obj(x={"type": "string"}),
        },
    }
    compacted = Compactor(SchemaBudgets()).compact(schema, 10**9)

    assert compacted is not None
    assert set(compacted["$defs"]) == {"Plan", "Tier"}
    assert_well_formed(compacted)
    assert not accepts(compacted, {"default": {"name": 1}})


# -- the superset property, on generated schemas and instances ------------------------------

# Property names that are also keywords ("default", "enum") must not hide their subschemas.
KEYS = ("a", "b", "default", "enum")
DEF_NAMES = ("d0", "d1", "d2")

instances = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(["", "x", "yy"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=8,
)


def _guarded_ref(name: str) -> st.SearchStrategy[dict[str, Any]]:
    # A $ref only below properties or items: no cycle applies to the same instance.
    return st.sampled_from(
        [
            {"type": "object", "properties": {"a": {"$ref": f"#/$defs/{name}"}}},
            {"type": "array", "items": {"$ref": f"#/$defs/{name}"}},
        ]
    )


leaves = st.one_of(
    st.sampled_from(
        [
            {},
            {"type": "integer"},
            {"type": "string", "maxLength": 1},
            {"type": ["object", "null"]},
            {"const": 1},
            {"enum": [None, "x", 2]},
            {"type": "integer", "minimum": 0},
            {"required": ["a"]},
            {"maxProperties": 1},
        ]
    ),
    st.sampled_from(DEF_NAMES).flatmap(_guarded_ref),
)


def _compound(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    pair = st.lists(inner, min_size=1, max_size=2)
    return st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.dictionaries(st.sampled_from(KEYS), inner),
            },
            optional={
                "additionalProperties": inner | st.just(False),
                "unevaluatedProperties": st.just(False),
                "required": st.lists(st.sampled_from(KEYS), max_size=2, unique=True),
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("array")},
            optional={"items": inner, "prefixItems": pair, "unevaluatedItems": st.just(False)},
        ),
        st.fixed_dictionaries({"contains": inner}, optional={"maxContains": st.just(1)}),
        st.builds(lambda s: {"not": s}, inner),
        st.builds(lambda a, b, c: {"if": a, "then": b, "else": c}, inner, inner, inner),
        pair.map(lambda members: {"oneOf": members}),
        pair.map(lambda members: {"anyOf": members}),
        pair.map(lambda members: {"allOf": members}),
        st.builds(lambda s: {"anyOf": [s, {"type": "null"}]}, inner),
    )


schemas = st.recursive(leaves, _compound, max_leaves=10)
tool_schemas = st.fixed_dictionaries(
    {
        "type": st.just("object"),
        "properties": st.dictionaries(st.sampled_from(KEYS), schemas, min_size=1),
        "$defs": st.fixed_dictionaries({name: schemas for name in DEF_NAMES}),
    },
    optional={
        "unevaluatedProperties": st.just(False),
        "oneOf": st.lists(schemas, min_size=1, max_size=2),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schema=tool_schemas,
    values=st.lists(st.dictionaries(st.sampled_from(KEYS), instances), min_size=1, max_size=12),
    depth=st.integers(0, 3),
    max_bytes=st.integers(0, 1500),
)
def test_a_compacted_schema_accepts_everything_the_original_accepts(
    schema, values, depth, max_bytes
):
    compacted = Compactor(SchemaBudgets(max_depth=depth)).compact(schema, max_bytes)

    assert compacted is not None
    assert_well_formed(compacted)
    original = Draft202012Validator(schema)
    shortened = Draft202012Validator(compacted)
    for value in values:
        if original.is_valid(value):
            assert shortened.is_valid(value), (value, compacted)
