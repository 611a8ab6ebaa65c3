"""Credential types, one module each; `base` holds the interface and the registry."""

from __future__ import annotations

import importlib
import pkgutil

from .base import (
    CredentialType,
    PublicSettings,
    SchemeBinding,
    Secret,
    UnknownCredentialType,
    registry,
)

__all__ = [
    "CredentialType",
    "PublicSettings",
    "SchemeBinding",
    "Secret",
    "UnknownCredentialType",
    "registry",
]


def autodiscover() -> None:
    """Import every module of this package: each registers the type it defines."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
