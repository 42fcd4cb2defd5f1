"""Errors the store raises for bad admin input. Messages are safe to print: no PIN, no secret."""

from __future__ import annotations

from collections.abc import Callable

from radius_server.rules.validation import TextError


class StoreError(ValueError):
    """Base: the requested change was refused and nothing was written."""


class NotFound(StoreError):
    """No such customer or client."""


class SessionNotFound(NotFound):
    """No accounting session with that id."""


class AlreadyExists(StoreError):
    """A unique value (email, name, address) is taken."""


class InvalidValue(StoreError):
    """A value is malformed (email, address, secret, date)."""


class PinTaken(StoreError):
    """The PIN belongs to another customer."""


class SchemaNotReady(StoreError):
    """The database has not been migrated to this version's schema."""


class DatabaseMissing(StoreError):
    """The SQLite file does not exist and this command may not create it (a typo, mostly)."""


def checked(check: Callable[[str], str], value: str) -> str:
    """Apply a rule from ``radius_server.rules.validation``; its refusal becomes InvalidValue."""
    try:
        return check(value)
    except TextError as exc:
        raise InvalidValue(str(exc)) from None
