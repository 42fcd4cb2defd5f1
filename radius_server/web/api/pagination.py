"""Cursor pagination: an opaque cursor names the last item of the previous page."""

from __future__ import annotations

import base64
import binascii

from radius_server.web.problems import INVALID_REQUEST, Problem

MAX_PAGE = 500
DEFAULT_PAGE = 50


def encode_cursor(key: str) -> str:
    """The cursor after the item whose sort key is ``key``."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The sort key a cursor names, or a 422 problem naming the ``cursor`` field."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # validate=True: plain decoding drops unknown characters, so "%%%" would be
        # the empty key (the first page) instead of a refusal.
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        key = raw.decode()
    except (ValueError, binascii.Error, UnicodeError):
        raise Problem(INVALID_REQUEST, "not a cursor this API gave", field="cursor") from None
    if not key:
        raise Problem(INVALID_REQUEST, "not a cursor this API gave", field="cursor")
    return key
