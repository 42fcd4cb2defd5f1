"""The API's opaque cursors: what encode_cursor gives comes back; anything else is a 422."""

from __future__ import annotations

import pytest

from radius_server.web.api.pagination import decode_cursor, encode_cursor
from radius_server.web.problems import INVALID_REQUEST, Problem


@pytest.mark.parametrize("key", ["a@example.org", "a+b@x.org", "ünï@example.org", "42|1700000000"])
def test_a_cursor_names_its_key(key: str) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_is_the_first_page(cursor: str | None) -> None:
    assert decode_cursor(cursor) is None


@pytest.mark.parametrize("cursor", ["%%%", "a", "=", "YQ==YQ", "/w", "é"])
def test_a_cursor_the_api_never_gave_is_refused(cursor: str) -> None:
    # Plain base64 decoding drops unknown characters: "%%%" would be the first page.
    with pytest.raises(Problem) as refused:
        decode_cursor(cursor)
    assert refused.value.kind is INVALID_REQUEST
    assert refused.value.field == "cursor"
