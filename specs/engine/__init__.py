"""Specgate's OpenAPI-to-MCP-tool engine: pure Python, no Django.

``load_document`` parses text, ``convert`` turns a document into operations with tool
definitions, ``build_request`` serialises tool arguments back into an HTTP request.
"""

from .convert import ConversionResult, OperationDef, convert
from .errors import ArgumentError, SpecError
from .loader import load_document
from .request import RequestPlan, build_request
from .validation import validate_document

__all__ = [
    "ArgumentError",
    "ConversionResult",
    "OperationDef",
    "RequestPlan",
    "SpecError",
    "build_request",
    "convert",
    "load_document",
    "validate_document",
]
