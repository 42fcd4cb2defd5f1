"""rules/accounting.py: Accounting-Request bytes to records (pure)."""

from __future__ import annotations

import struct

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.packet import decode_request
from radius_server.rules.accounting import (
    AccountingError,
    AccountingRecord,
    StatusType,
    class_member_id,
    make_class,
    record_from_request,
    unique_session_key,
)

NOW = 1_800_000_000.0


def packet(*attributes: tuple[int, bytes]) -> bytes:
    body = b"".join(bytes([t, len(v) + 2]) + v for t, v in attributes)
    return (
        bytes([c.Code.ACCOUNTING_REQUEST, 7]) + struct.pack("!H", 20 + len(body)) + bytes(16) + body
    )


def integer(value: int) -> bytes:
    return struct.pack("!I", value)


def record(
    *attributes: tuple[int, bytes], member: tuple[int, str] | None = None
) -> AccountingRecord:
    return record_from_request(decode_request(packet(*attributes)), "ap1", "192.0.2.1", NOW, member)


BASE = (
    (c.ACCT_SESSION_ID, b"5A3F0001"),
    (c.USER_NAME, b" Ada@Example.org "),
    (c.NAS_IP_ADDRESS, bytes([192, 0, 2, 1])),
    (c.NAS_PORT, integer(7)),
    (c.CALLING_STATION_ID, b"AA-BB-CC-DD-EE-FF"),
)


def test_stop_carries_counters_with_gigawords_folded_in() -> None:
    rec = record(
        (c.ACCT_STATUS_TYPE, integer(2)),
        *BASE,
        (c.ACCT_INPUT_OCTETS, integer(10)),
        (c.ACCT_INPUT_GIGAWORDS, integer(2)),
        (c.ACCT_OUTPUT_OCTETS, integer(5)),
        (c.ACCT_SESSION_TIME, integer(60)),
        (c.ACCT_TERMINATE_CAUSE, integer(1)),
        (c.FRAMED_IP_ADDRESS, bytes([10, 0, 0, 9])),
    )
    assert rec.status is StatusType.STOP
    assert rec.input_octets == 2 * 2**32 + 10
    assert rec.output_octets == 5
    assert rec.session_time == 60
    assert rec.terminate_cause == "User-Request"
    assert rec.calling_station_id == "aa:bb:cc:dd:ee:ff"
    assert rec.user_name == "Ada@Example.org"
    assert rec.framed_ip_address == "10.0.0.9"
    assert rec.started_at == NOW - 60
    assert rec.nas_ip_address == "192.0.2.1"


def test_same_session_same_key_whatever_the_packet() -> None:
    start = record((c.ACCT_STATUS_TYPE, integer(1)), *BASE)
    interim = record((c.ACCT_STATUS_TYPE, integer(3)), *BASE, (c.ACCT_INPUT_OCTETS, integer(1)))
    other = record((c.ACCT_STATUS_TYPE, integer(1)), *BASE[1:], (c.ACCT_SESSION_ID, b"5A3F0002"))
    assert start.unique_key == interim.unique_key != other.unique_key
    assert len(start.unique_key) == 32
    assert start.unique_key == unique_session_key("ap1", "192.0.2.1", None, 7, "5A3F0001")


def test_delay_time_and_event_timestamp() -> None:
    delayed = record((c.ACCT_STATUS_TYPE, integer(3)), *BASE, (c.ACCT_DELAY_TIME, integer(30)))
    assert delayed.received_at == NOW - 30 == delayed.event_time
    stamped = record(
        (c.ACCT_STATUS_TYPE, integer(1)), *BASE, (c.EVENT_TIMESTAMP, integer(int(NOW) - 5))
    )
    assert stamped.event_time == NOW - 5
    future = record(
        (c.ACCT_STATUS_TYPE, integer(1)), *BASE, (c.EVENT_TIMESTAMP, integer(int(NOW) + 9999))
    )
    assert future.event_time == NOW


def test_accounting_on_needs_no_session() -> None:
    rec = record((c.ACCT_STATUS_TYPE, integer(7)), (c.NAS_IDENTIFIER, b"hall"))
    assert rec.status is StatusType.ACCOUNTING_ON
    assert rec.unique_key == ""
    assert rec.nas_identifier == "hall"


@pytest.mark.parametrize(
    ("attributes", "detail"),
    [
        ((), "no_status_type"),
        (((c.ACCT_STATUS_TYPE, integer(99)),), "unsupported_status_type"),
        (((c.ACCT_STATUS_TYPE, integer(1)),), "no_acct_session_id"),
        (
            ((c.ACCT_STATUS_TYPE, integer(3)), *BASE, (c.ACCT_INPUT_OCTETS, b"\x00\x01")),
            f"bad_length_attribute_{c.ACCT_INPUT_OCTETS}",
        ),
        (
            (
                (c.ACCT_STATUS_TYPE, integer(3)),
                *BASE,
                (c.ACCT_SESSION_TIME, integer(1)),
                (c.ACCT_SESSION_TIME, integer(2)),
            ),
            f"duplicate_attribute_{c.ACCT_SESSION_TIME}",
        ),
    ],
)
def test_unusable_packets_say_why(attributes: tuple[tuple[int, bytes], ...], detail: str) -> None:
    with pytest.raises(AccountingError) as caught:
        record(*attributes)
    assert str(caught.value) == detail


def test_class_names_the_member() -> None:
    value = make_class(42, b"\x01\x02")
    assert class_member_id(value) == 42
    assert class_member_id(b"rs1:x:0") is None
    assert class_member_id(b"other") is None
    assert class_member_id(None) is None
    rec = record(
        (c.ACCT_STATUS_TYPE, integer(1)), *BASE, (c.CLASS, value), member=(42, "ada@example.org")
    )
    assert rec.class_hex == value.hex()
    assert (rec.customer_id, rec.member_email) == (42, "ada@example.org")


def test_round_trip_through_plain_values() -> None:
    rec = record((c.ACCT_STATUS_TYPE, integer(2)), *BASE, (c.ACCT_INPUT_OCTETS, integer(3)))
    values = rec.as_dict()
    assert values["status"] == 2
    assert AccountingRecord.from_dict({**values, "future_field": 1}) == rec
