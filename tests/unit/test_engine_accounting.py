"""The engine's accounting path: records, the deferred answer, the one log line."""

from __future__ import annotations

import struct
from collections.abc import Callable

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_accounting_request, verify_reply
from radius_server.rules.accounting import AccountingRecord, StatusType, make_class
from tests.unit.engine_harness import NAS_ADDRESS, SECRET, Harness

SOURCE = (NAS_ADDRESS, 40000)


class FakeSink:
    """Collects what the engine submits; the test decides when and how it is kept."""

    def __init__(self) -> None:
        self.pending: list[tuple[AccountingRecord, Callable[[str | None], None]]] = []

    def submit(self, record: AccountingRecord, done: Callable[[str | None], None]) -> None:
        self.pending.append((record, done))


def integer(value: int) -> bytes:
    return struct.pack("!I", value)


def accounting(
    status: int = 1,
    session_id: bytes | None = b"sess-1",
    user: bytes = b"ada@example.org",
    extra: tuple[tuple[int, bytes], ...] = (),
    identifier: int = 9,
) -> tuple[bytes, bytes]:
    attributes = [(c.ACCT_STATUS_TYPE, integer(status)), (c.USER_NAME, user)]
    if session_id is not None:
        attributes.append((c.ACCT_SESSION_ID, session_id))
    attributes += extra
    request = encode_accounting_request(SECRET, identifier=identifier, attributes=attributes)
    return request.packet, request.authenticator


def wired() -> tuple[Harness, FakeSink, list[tuple[bytes, tuple[str, int]]]]:
    h = Harness()
    sink = FakeSink()
    sent: list[tuple[bytes, tuple[str, int]]] = []
    h.engine.accounting = sink
    h.engine.send = lambda reply, address: sent.append((reply, address))
    return h, sink, sent


def lines(h: Harness) -> list[dict[str, object]]:
    return h.log.named("accounting")


STOP_COUNTERS = (
    (c.ACCT_SESSION_TIME, integer(120)),
    (c.ACCT_INPUT_OCTETS, integer(1000)),
    (c.ACCT_OUTPUT_OCTETS, integer(2000)),
    (c.ACCT_TERMINATE_CAUSE, integer(1)),
)


def test_without_a_sink_the_request_is_acknowledged_at_once() -> None:
    h = Harness()
    h.add_member("ada@example.org", "12345")
    packet, authenticator = accounting(status=2, extra=STOP_COUNTERS)
    result = h.engine.handle_acct(packet, SOURCE)
    assert result is not None
    assert verify_reply(result[0], authenticator, SECRET, request_code=c.Code.ACCOUNTING_REQUEST)
    (line,) = lines(h)
    assert line["outcome"] == "accept" and line["reason"] == "accounting"
    assert line["member"] == "ada@example.org" and "stored" not in line
    assert (line["session_time"], line["input_octets"], line["output_octets"]) == (120, 1000, 2000)
    assert line["terminate_cause"] == "User-Request"


def test_the_answer_waits_until_the_record_is_durable() -> None:
    h, sink, sent = wired()
    h.add_member("ada@example.org", "12345")
    packet, authenticator = accounting()
    assert h.engine.handle_acct(packet, SOURCE) is None
    ((record, done),) = sink.pending
    assert record.status is StatusType.START and record.member_email == "ada@example.org"
    assert record.client_name == "ap" and record.nas_address == NAS_ADDRESS
    # Nothing answered, nothing logged yet; a retransmission meanwhile is not decided again.
    assert sent == [] and lines(h) == []
    assert h.engine.handle_acct(packet, SOURCE) is None
    assert len(sink.pending) == 1
    done("database")
    ((reply, address),) = sent
    assert address == SOURCE
    assert verify_reply(reply, authenticator, SECRET, request_code=c.Code.ACCOUNTING_REQUEST)
    assert reply[0] == c.Code.ACCOUNTING_RESPONSE
    (line,) = lines(h)
    assert line["stored"] == "database" and line["outcome"] == "accept"
    assert line["member"] == "ada@example.org" and line["status_type"] == "start"
    # Later retransmissions get the same bytes from the cache, still one record.
    assert h.engine.handle_acct(packet, SOURCE) == (reply, 0.0)
    assert len(sink.pending) == 1 and len(lines(h)) == 1


def test_a_record_that_could_not_be_kept_is_not_answered_and_is_tried_again() -> None:
    h, sink, sent = wired()
    packet, _ = accounting(status=3)
    assert h.engine.handle_acct(packet, SOURCE) is None
    sink.pending[0][1](None)
    assert sent == []
    (line,) = lines(h)
    assert line["outcome"] == "drop" and line["reason"] == "not_stored"
    assert line["level"] == "warning"
    # The NAS's retransmission is a new attempt.
    assert h.engine.handle_acct(packet, SOURCE) is None
    assert len(sink.pending) == 2
    sink.pending[1][1]("spool")
    assert len(sent) == 1 and lines(h)[-1]["stored"] == "spool"


def test_our_class_names_the_member_behind_an_outer_identity() -> None:
    h, sink, _ = wired()
    member = h.add_member("ada@example.org", "12345")
    h.add_member("anonymous", "54321")  # even a member by that name loses to the Class
    packet, _ = accounting(
        user=b"anonymous", extra=((c.CLASS, make_class(member.id, b"\x01" * 8)),)
    )
    h.engine.handle_acct(packet, SOURCE)
    record = sink.pending[0][0]
    assert (record.customer_id, record.member_email) == (member.id, "ada@example.org")


def test_a_class_of_a_removed_member_falls_back_to_user_name() -> None:
    h, sink, _ = wired()
    packet, _ = accounting(user=b"guest@example.org", extra=((c.CLASS, make_class(999, b"x")),))
    h.add_member("guest@example.org", "12345")
    h.engine.handle_acct(packet, SOURCE)
    assert sink.pending[0][0].member_email == "guest@example.org"


def test_an_unknown_user_is_still_recorded_without_a_member() -> None:
    h, sink, sent = wired()
    packet, _ = accounting(user=b"stranger@example.org")
    h.engine.handle_acct(packet, SOURCE)
    record, done = sink.pending[0]
    assert record.member_email is None and record.user_name == "stranger@example.org"
    done("database")
    assert len(sent) == 1 and "member" not in lines(h)[0]


def test_a_request_that_is_no_record_is_dropped_as_malformed() -> None:
    h, sink, sent = wired()
    packet, _ = accounting(session_id=None)
    assert h.engine.handle_acct(packet, SOURCE) is None
    assert sink.pending == [] and sent == []
    (line,) = lines(h)
    assert (line["reason"], line["detail"]) == ("malformed", "no_acct_session_id")
    # Dropped requests are not remembered: a fixed retransmission would be decided afresh.
    assert h.engine.handle_acct(packet, SOURCE) is None
    assert len(lines(h)) == 2


def test_a_forged_request_never_reaches_the_sink() -> None:
    h, sink, _ = wired()
    packet, _ = accounting()
    forged = packet[:4] + bytes(16) + packet[20:]
    assert h.engine.handle_acct(forged, SOURCE) is None
    assert sink.pending == []
    assert lines(h)[0]["reason"] == "bad_authenticator"


def test_status_server_on_the_accounting_port_is_not_deferred() -> None:
    from radius_server.protocol.client import encode_status_server

    h, sink, _ = wired()
    request = encode_status_server(SECRET, identifier=4)
    assert h.engine.handle_acct(request.packet, SOURCE) is not None
    assert sink.pending == []


def test_access_requests_never_touch_the_sink() -> None:
    h, sink, _ = wired()
    h.add_member("ada@example.org", "12345")
    code, _ = h.send("ada@example.org", "12345")
    assert code == c.Code.ACCESS_ACCEPT and sink.pending == []
