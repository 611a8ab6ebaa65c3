"""XML request bodies: the plan an OpenAPI schema's ``xml`` objects give, and serialising by it.

A plan is JSON (it is stored in the argument mapping) and is compiled once per operation from
the body schema; the request builder only reads it. Nodes::

    {"kind": "object", "properties": {"<property>": node, ...}}
    {"kind": "array", "items": node, "wrapped": true}
    {"kind": "value"}
    {"kind": "any"}                      # no usable schema: written from the value's shape
    {"type": "<def>"}                    # a referenced schema, in plan["types"]

each with, when the schema says so, ``"name"``, ``"namespace"``, ``"prefix"`` and
``"attribute": true``. Element names follow the OpenAPI XML Object: a property is an element
named after the property unless its schema's ``xml.name`` says otherwise (for a referenced
schema: the reference's own ``xml.name``, else the referenced schema's); an array is not
wrapped unless ``wrapped: true``, its items are named by ``items.xml.name``, else by the
array's element name when wrapped, else by the property name; the root element is named by
the body schema's ``xml.name``, else by the component it references.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ArgumentError
from .refs import join_pointer

# XML 1.0 Name (the common ASCII and Unicode letters; no colon: prefixes are separate).
_NAME = re.compile(r"[A-Za-z_\u00c0-\ufffd][A-Za-z0-9_.\u00b7\u00c0-\ufffd-]*")
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_INPLACE_CHOICES = ("oneOf", "anyOf", "not", "if")
MAX_PLAN_NODES = 2000


class NotSerialisable(Exception):
    """The schema does not say how to write its XML; the reason is the message."""


class PlanCompiler:
    """Compiles body schemas of one document into XML plans.

    ``resolve(node, pointer)`` follows ``$ref`` chains and returns (target, target pointer).
    """

    def __init__(self, resolve: Any) -> None:
        self._resolve = resolve

    def compile(self, source: Any, pointer: str) -> dict[str, Any]:
        self._types: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._nodes = 0
        root = self._node(source, pointer, 0)
        root_schema, root_pointer = self._resolve(source, pointer)
        name = self._explicit_name(source) or self._explicit_name(root_schema)
        if not name:
            name = _component_name(source) or _component_name_of(root_pointer)
        if not name or not _NAME.fullmatch(name):
            raise NotSerialisable(
                "the body schema names no root element (no xml.name and no component name)"
            )
        kind = self._kind_of(root)
        if kind == "array" and not self._wrapped(root):
            raise NotSerialisable("the body is an array that is not wrapped in one element")
        if kind not in ("object", "array"):
            raise NotSerialisable("the body is not an object or a wrapped array")
        plan: dict[str, Any] = {"root": root, "name": name}
        if self._types:
            plan["types"] = self._types
        return plan

    # -- nodes ----------------------------------------------------------------------------

    def _node(self, source: Any, pointer: str, depth: int) -> dict[str, Any]:
        self._nodes += 1
        if self._nodes > MAX_PLAN_NODES or depth > 64:
            raise NotSerialisable("the body schema is too large to plan its XML")
        own_xml = _xml(source)
        ref = source.get("$ref") if isinstance(source, dict) else None
        if isinstance(ref, str):
            target, target_pointer = self._resolve(source, pointer)
            key = self._type_key(target_pointer)
            if key not in self._types:
                self._types[key] = None  # placeholder: recursion refers to it by name
                self._types[key] = self._shape(target, target_pointer, depth + 1)
            node: dict[str, Any] = {"type": key}
            node.update(_xml_fields(own_xml))
            return node
        node = self._shape(source, pointer, depth)
        return node

    def _shape(self, schema: Any, pointer: str, depth: int) -> dict[str, Any]:
        if not isinstance(schema, dict):
            return {"kind": "any"}
        node: dict[str, Any] = _xml_fields(_xml(schema))
        if any(key in schema for key in _INPLACE_CHOICES):
            node["kind"] = "any"
            return node
        declared = schema.get("type")
        types = set(declared) if isinstance(declared, list) else {declared}
        members = schema.get("allOf")
        if isinstance(members, list) and declared is None and "properties" not in schema:
            # allOf: [{$ref: Name}, {description: ...}] is the referenced schema's kind.
            parts = [
                self._resolved(self._node(m, join_pointer(pointer, "allOf", i), depth + 1))
                for i, m in enumerate(members)
            ]
            kinds = [part.get("kind") for part in parts]
            for kind in ("array", "value"):
                if kind in kinds and "object" not in kinds:
                    return {**parts[kinds.index(kind)], **node}
        if "array" in types or ("items" in schema and declared is None):
            items = schema.get("items", {})
            node["kind"] = "array"
            node["items"] = self._node(items, join_pointer(pointer, "items"), depth + 1)
            return node
        if "object" in types or "properties" in schema or isinstance(members, list):
            node["kind"] = "object"
            properties: dict[str, Any] = {}
            if isinstance(members, list):
                for index, member in enumerate(members):
                    member_pointer = join_pointer(pointer, "allOf", index)
                    part = self._resolved(self._node(member, member_pointer, depth + 1))
                    if part.get("kind") == "object":
                        properties.update(part.get("properties", {}))
            own = schema.get("properties")
            if isinstance(own, dict):
                for name, sub in own.items():
                    properties[name] = self._node(
                        sub, join_pointer(pointer, "properties", name), depth + 1
                    )
            node["properties"] = properties
            return node
        if types & {"string", "integer", "number", "boolean"}:
            node["kind"] = "value"
            return node
        node["kind"] = "any"
        return node

    def _resolved(self, node: dict[str, Any]) -> dict[str, Any]:
        """A node's own shape: a reference's type (an empty one while it is being planned)."""
        return (self._types.get(node["type"]) or {}) if "type" in node else node

    def _type_key(self, pointer: str) -> str:
        if pointer not in self._names:
            self._names[pointer] = f"t{len(self._names)}"
        return self._names[pointer]

    def _kind_of(self, node: dict[str, Any]) -> str:
        if "type" in node:
            return str((self._types.get(node["type"]) or {}).get("kind", "any"))
        return str(node.get("kind"))

    def _wrapped(self, node: dict[str, Any]) -> bool:
        if node.get("wrapped"):
            return True
        return "type" in node and bool((self._types.get(node["type"]) or {}).get("wrapped"))

    @staticmethod
    def _explicit_name(schema: Any) -> str:
        name = _xml(schema).get("name")
        return name if isinstance(name, str) else ""


def _xml(schema: Any) -> dict[str, Any]:
    xml = schema.get("xml") if isinstance(schema, dict) else None
    return xml if isinstance(xml, dict) else {}


def _xml_fields(xml: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("name", "namespace", "prefix"):
        if isinstance(xml.get(key), str) and xml[key]:
            fields[key] = xml[key]
    for key in ("attribute", "wrapped"):
        if xml.get(key) is True:
            fields[key] = True
    return fields


def _component_name(source: Any) -> str:
    ref = source.get("$ref") if isinstance(source, dict) else None
    return _component_name_of(ref[1:]) if isinstance(ref, str) and ref.startswith("#") else ""


def _component_name_of(pointer: str) -> str:
    for prefix in ("/components/schemas/", "/definitions/"):
        if pointer.startswith(prefix) and "/" not in pointer[len(prefix) :]:
            return pointer[len(prefix) :].replace("~1", "/").replace("~0", "~")
    return ""


# -- serialising ----------------------------------------------------------------------------


def serialise(plan: dict[str, Any], value: Any) -> bytes:
    """The XML document (UTF-8, no declaration) for ``value`` by ``plan``."""
    writer = _Writer(plan.get("types", {}))
    root = writer.node(plan["root"])
    name = root.get("name") or plan["name"]
    if root.get("kind") == "array":
        if not isinstance(value, list):
            raise ArgumentError("The XML body must be an array.")
        writer.array(root, name, value, {})
    else:
        writer.element(root, name, value, {})
    return "".join(writer.out).encode("utf-8")


class _Writer:
    def __init__(self, types: dict[str, Any]) -> None:
        self._types = types
        self.out: list[str] = []

    def node(self, node: dict[str, Any]) -> dict[str, Any]:
        """A node with its referenced type's fields filled in (the reference's own win)."""
        if "type" not in node:
            return node
        target = self._types.get(node["type"]) or {"kind": "any"}
        merged = {**target, **{k: v for k, v in node.items() if k != "type"}}
        if "name" not in node and "name" in target:
            merged["name"] = target["name"]
        return merged

    def element(self, node: dict[str, Any], name: str, value: Any, scope: dict[str, str]) -> None:
        if value is None:
            return
        kind = node.get("kind")
        if kind == "array" or (kind == "any" and isinstance(value, list)):
            self.array(node, name, value if isinstance(value, list) else [value], scope)
            return
        tag, declarations, scope = _tag(node, name, scope)
        attributes: list[str] = []
        children: list[tuple[dict[str, Any], str, Any]] = []
        text: str | None = None
        if isinstance(value, dict):
            properties = node.get("properties", {}) if kind == "object" else {}
            keys = [key for key in properties if key in value]
            keys += [key for key in value if key not in properties]
            for key in keys:
                item = value[key]
                if item is None:
                    continue
                child = self.node(properties[key]) if key in properties else {"kind": "any"}
                child_name = child.get("name") or key
                if child.get("attribute") and not isinstance(item, (dict, list)):
                    attribute, more = _attribute(child, child_name, item, scope)
                    declarations += more
                    scope = {**scope, **_declared(more)}
                    attributes.append(attribute)
                elif child.get("kind") == "array" and not child.get("wrapped"):
                    # Not wrapped: the array's own name has no effect, its items are named.
                    children.append((child, key, item))
                else:
                    children.append((child, child_name, item))
        else:
            text = scalar_text(value)
        self.out.append(f"<{tag}{declarations}{''.join(attributes)}")
        if text is None and not children:
            self.out.append("/>")
            return
        self.out.append(">")
        if text is not None:
            self.out.append(_escape(text))
        for child, child_name, item in children:
            self.element(child, child_name, item, scope)
        self.out.append(f"</{tag}>")

    def array(
        self, node: dict[str, Any], name: str, values: list[Any], scope: dict[str, str]
    ) -> None:
        items = self.node(node.get("items") or {"kind": "any"})
        if node.get("wrapped"):
            outer = node.get("name") or name
            item_name = items.get("name") or outer
            tag, declarations, inner = _tag(node, outer, scope)
            if not values:
                self.out.append(f"<{tag}{declarations}/>")
                return
            self.out.append(f"<{tag}{declarations}>")
            for value in values:
                self.element(items, item_name, value, inner)
            self.out.append(f"</{tag}>")
            return
        item_name = items.get("name") or name
        for value in values:
            self.element(items, item_name, value, scope)


def _tag(node: dict[str, Any], name: str, scope: dict[str, str]) -> tuple[str, str, dict]:
    _check_name(name)
    namespace, prefix = node.get("namespace"), node.get("prefix")
    if prefix:
        _check_name(prefix)
    declarations = ""
    if namespace and scope.get(prefix or "") != namespace:
        attribute = f"xmlns:{prefix}" if prefix else "xmlns"
        declarations = f" {attribute}={_quote(namespace)}"
        scope = {**scope, prefix or "": namespace}
    return (f"{prefix}:{name}" if prefix else name), declarations, scope


def _attribute(
    node: dict[str, Any], name: str, value: Any, scope: dict[str, str]
) -> tuple[str, str]:
    _check_name(name)
    namespace, prefix = node.get("namespace"), node.get("prefix")
    declaration = ""
    if prefix:
        _check_name(prefix)
        if namespace and scope.get(prefix) != namespace:
            declaration = f" xmlns:{prefix}={_quote(namespace)}"
        name = f"{prefix}:{name}"
    return f" {name}={_quote(scalar_text(value))}", declaration


def _declared(declaration: str) -> dict[str, str]:
    match = re.fullmatch(r' xmlns:([^=]+)="([^"]*)"', declaration)
    return {match.group(1): match.group(2)} if match else {}


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ArgumentError(f"{name!r} cannot be an XML element or attribute name.")


def scalar_text(value: Any) -> str:
    """A value as it is written in text: booleans in lower case, numbers as JSON, other
    structures as compact JSON (parameters and XML alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _escape(text: str) -> str:
    if _NOT_XML.search(text):
        bad = _NOT_XML.search(text).group()  # type: ignore[union-attr]
        raise ArgumentError(f"{bad!r} cannot be sent in an XML document.")
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _quote(text: str) -> str:
    escaped = _escape(text).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
    return f'"{escaped}"'
