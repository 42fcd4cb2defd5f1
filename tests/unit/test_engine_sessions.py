"""Sessions through the engine: every method's accept carries Class and Acct-Interim-Interval,
and the device limit answers from the online view."""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Callable

import pytest

from radius_server.eap.codec import EapCode, decode_eap
from radius_server.eap.plain_mschap import PlainMsChapHandler
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.client import encode_accounting_request, encode_request
from radius_server.protocol.packet import RadiusRequest, decode_request
from radius_server.rules.accounting import AccountingRecord, StatusType, class_member_id
from radius_server.rules.online import OnlineDevices
from radius_server.runtime.engine import TOKEN_POOL, TOKEN_SIZE, EngineOptions
from tests.unit.eap_peer import CASES, Peer, certs, converse, eap_engine
from tests.unit.eap_support import EMAIL, PIN, make_engine, member, send
from tests.unit.engine_harness import NAS_ADDRESS, SECRET, Harness

__all__ = ["certs"]  # the fixture, re-exported for pytest

PHONES = [f"02-00-00-00-00-0{i}" for i in range(1, 7)]


def _pap(harness: Harness, email: str, pin: str, station: str | None, ap: str = "ap1"):
    """One PAP request through the harness's engine: (decoded reply, its log line)."""
    attributes = [(c.CALLED_STATION_ID, f"{ap}:Coworking".encode())]
    if station is not None:
        attributes.append((c.CALLING_STATION_ID, station.encode()))
    request = encode_request(
        SECRET,
        identifier=secrets.randbelow(256),
        user_name=email,
        password=pin.encode(),
        attributes=attributes,
    )
    before = len(harness.log.events)
    answer = harness.engine.handle_auth(request.packet, (NAS_ADDRESS, 1812))
    assert answer is not None
    line = [e for e in harness.log.events[before:] if e["event"] == "access"][-1]
    return decode_request(answer[0]), line


def _session_attributes(reply: RadiusRequest, member_id: int, interval: int = 600) -> bytes:
    """Assert the accept carries our Class and the interim interval; return the Class."""
    assert reply.code == c.Code.ACCESS_ACCEPT
    assert reply.get(c.ACCT_INTERIM_INTERVAL) == struct.pack("!I", interval)
    value = reply.get(c.CLASS)
    assert value is not None and class_member_id(value) == member_id
    return value


# -- Class and Acct-Interim-Interval -------------------------------------------------------


@pytest.mark.parametrize("method", ["pap", "chap"])
def test_pap_and_chap_accepts_carry_class_and_interim_interval(method: str) -> None:
    harness = Harness()
    ana = harness.add_member("ana@example.com", "24680")
    request = encode_request(
        SECRET, identifier=1, user_name=ana.email, password=b"24680", method=method
    )
    answer = harness.engine.handle_auth(request.packet, (NAS_ADDRESS, 1812))
    assert answer is not None
    _session_attributes(decode_request(answer[0]), ana.id)


def test_plain_mschapv2_accept_carries_class_and_interim_interval() -> None:
    engine, _ = make_engine({"mschap": PlainMsChapHandler()}, [member(member_id=42)])
    attrs = mschap.mschapv2_request_attributes(
        EMAIL, PIN, secrets.token_bytes(16), secrets.token_bytes(16), 9
    )
    reply, _ = send(engine, attrs)
    _session_attributes(reply, 42)
    assert reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP2_SUCCESS) is not None


@pytest.mark.parametrize(("eap_type", "inner", "label"), CASES)
def test_eap_accepts_carry_class_and_interim_interval(certs, eap_type, inner, label) -> None:
    engine, log, _ = eap_engine(certs, [member(member_id=42)])
    outcome = converse(engine, Peer(eap_type, inner=inner))
    _session_attributes(outcome.reply, 42)
    assert decode_eap(outcome.reply.eap_message).code == EapCode.SUCCESS
    assert log.access()[-1]["method"] == label


def test_the_interim_interval_is_the_setting() -> None:
    harness = Harness()
    ana = harness.add_member("ana@example.com", "24680")
    harness.engine = type(harness.engine)(
        harness.directory,
        harness.log,
        EngineOptions(acct_interim_interval=900),
        clock=harness.clock,
        monotonic=harness.clock,
    )
    reply, _ = _pap(harness, ana.email, "24680", PHONES[0])
    _session_attributes(reply, ana.id, interval=900)


def test_each_sign_in_gets_its_own_class_and_a_retransmission_the_same() -> None:
    harness = Harness()
    ana = harness.add_member("ana@example.com", "24680")
    first, _ = _pap(harness, ana.email, "24680", PHONES[0])
    second, _ = _pap(harness, ana.email, "24680", PHONES[0])
    assert _session_attributes(first, ana.id) != _session_attributes(second, ana.id)
    request = encode_request(SECRET, identifier=7, user_name=ana.email, password=b"24680")
    original = harness.engine.handle_auth(request.packet, (NAS_ADDRESS, 5000))
    again = harness.engine.handle_auth(request.packet, (NAS_ADDRESS, 5000))
    assert original is not None and again is not None and original[0] == again[0]


def test_rejects_carry_no_class() -> None:
    harness = Harness()
    harness.add_member("ana@example.com", "24680")
    reply, _ = _pap(harness, "ana@example.com", "11111", PHONES[0])
    assert reply.code == c.Code.ACCESS_REJECT
    assert reply.get(c.CLASS) is None and reply.get(c.ACCT_INTERIM_INTERVAL) is None


# -- the device limit ------------------------------------------------------------------------


def limited() -> tuple[Harness, int]:
    harness = Harness(online=OnlineDevices())
    return harness, harness.add_member("ana@example.com", "24680").id


def test_the_fourth_device_at_once_is_rejected_with_a_message() -> None:
    harness, _ = limited()
    for phone in PHONES[:3]:
        assert _pap(harness, "ana@example.com", "24680", phone)[0].code == c.Code.ACCESS_ACCEPT
    reply, line = _pap(harness, "ana@example.com", "24680", PHONES[3])
    assert reply.code == c.Code.ACCESS_REJECT
    assert reply.get(c.REPLY_MESSAGE) == b"Device limit reached: 3 devices online"
    assert (line["reason"], line["detail"], line["user"]) == (
        "device_limit",
        "online=3 limit=3",
        "ana@example.com",
    )


def test_signing_in_again_or_roaming_never_counts_twice() -> None:
    harness, _ = limited()
    for _ in range(3):
        for phone in PHONES[:3]:
            for ap in ("ap1", "ap2"):  # the NAS re-authenticates; the phone roams
                reply, _ = _pap(harness, "ana@example.com", "24680", phone, ap)
                assert reply.code == c.Code.ACCESS_ACCEPT
    # The same MAC in another notation is the same device.
    assert _pap(harness, "ana@example.com", "24680", "02:00:00:00:00:01")[0].code == 2


def test_device_limit_rejects_are_no_guesses() -> None:
    """The PIN was right: many of them lock nothing, and the devices online stay fine."""
    harness, _ = limited()
    for phone in PHONES[:3]:
        _pap(harness, "ana@example.com", "24680", phone)
    for _ in range(40):
        assert _pap(harness, "ana@example.com", "24680", PHONES[4])[1]["reason"] == "device_limit"
    assert not harness.log.named("lockout_started")
    assert _pap(harness, "ana@example.com", "24680", PHONES[0])[1]["reason"] == "ok"


def test_accepts_count_for_a_while_then_sessions_take_over() -> None:
    harness, ana = limited()
    for phone in PHONES[:3]:
        _pap(harness, "ana@example.com", "24680", phone)
    harness.clock.advance(61)  # no Accounting-Start came: the accepts no longer count
    assert _pap(harness, "ana@example.com", "24680", PHONES[3])[1]["reason"] == "ok"
    # Sessions from accounting (this instance's writer, or rows of other instances).
    for i, phone in enumerate(PHONES[3:6]):
        harness.online.apply(_start(f"s{i}", ana, phone, harness.clock.now))  # type: ignore[union-attr]
    harness.clock.advance(61)
    assert _pap(harness, "ana@example.com", "24680", PHONES[0])[1]["reason"] == "device_limit"
    harness.online.apply(  # type: ignore[union-attr]
        _start("s0", ana, PHONES[3], harness.clock.now, StatusType.STOP)
    )
    assert _pap(harness, "ana@example.com", "24680", PHONES[0])[1]["reason"] == "ok"


def test_a_members_own_limit_and_unlimited() -> None:
    harness = Harness(online=OnlineDevices())
    harness.add_member("one@example.com", "24680", device_limit=1)
    harness.add_member("any@example.com", "13579", device_limit=0)
    assert _pap(harness, "one@example.com", "24680", PHONES[0])[1]["reason"] == "ok"
    reply, line = _pap(harness, "one@example.com", "24680", PHONES[1])
    assert line["reason"] == "device_limit"
    assert reply.get(c.REPLY_MESSAGE) == b"Device limit reached: 1 device online"
    for phone in PHONES:
        assert _pap(harness, "any@example.com", "13579", phone)[1]["reason"] == "ok"


def test_a_request_without_station_is_a_new_device_but_its_accept_is_not_held() -> None:
    """At the limit it is refused; below it, a probe repeated every second stays accepted."""
    harness, _ = limited()
    for _ in range(10):
        assert _pap(harness, "ana@example.com", "24680", None)[1]["reason"] == "ok"
        harness.clock.advance(1)
    for phone in PHONES[:3]:
        _pap(harness, "ana@example.com", "24680", phone)
    assert _pap(harness, "ana@example.com", "24680", None)[1]["reason"] == "device_limit"


def test_the_limit_setting_is_read_from_the_options() -> None:
    harness = Harness(online=OnlineDevices())
    harness.add_member("ana@example.com", "24680")
    harness.engine = type(harness.engine)(
        harness.directory,
        harness.log,
        EngineOptions(device_limit=1),
        clock=harness.clock,
        monotonic=harness.clock,
        online=harness.online,
    )
    assert _pap(harness, "ana@example.com", "24680", PHONES[0])[1]["reason"] == "ok"
    assert _pap(harness, "ana@example.com", "24680", PHONES[1])[1]["reason"] == "device_limit"


def test_plain_mschapv2_over_the_limit_says_why() -> None:
    engine, log = make_engine({"mschap": PlainMsChapHandler()}, [member(member_id=42)])
    engine.online = OnlineDevices()
    for phone in PHONES[:3]:
        engine.online.accepted(42, phone.replace("-", ":").lower(), engine.clock())
    attrs = mschap.mschapv2_request_attributes(
        EMAIL, PIN, secrets.token_bytes(16), secrets.token_bytes(16), 9
    )
    reply, _ = send(engine, [*attrs, (c.CALLING_STATION_ID, PHONES[4].encode())])
    assert reply.code == c.Code.ACCESS_REJECT
    assert reply.get(c.REPLY_MESSAGE) == b"Device limit reached: 3 devices online"
    assert reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_CHAP_ERROR) is not None
    assert log.access()[-1]["reason"] == "device_limit"


def test_peap_over_the_limit_ends_in_eap_failure(certs) -> None:
    engine, log, _ = eap_engine(certs, [member(member_id=42)])
    engine.online = OnlineDevices()
    for phone in PHONES[:3]:
        engine.online.accepted(42, phone.replace("-", ":").lower(), engine.clock())
    outcome = converse(engine, Peer(CASES[0][0], station=PHONES[4]))
    assert outcome.reply.code == c.Code.ACCESS_REJECT
    assert decode_eap(outcome.reply.eap_message).code == EapCode.FAILURE
    assert outcome.reply.get(c.CLASS) is None
    assert log.access()[-1]["reason"] == "device_limit"
    # The same device already online signs in.
    again = converse(engine, Peer(CASES[0][0], station=PHONES[0]))
    _session_attributes(again.reply, 42)


def _start(
    key: str, member_id: int, station: str, now: float, status: StatusType = StatusType.START
) -> AccountingRecord:
    return AccountingRecord(
        status=status,
        unique_key=key,
        client_name="ap",
        nas_address=NAS_ADDRESS,
        acct_session_id=key,
        user_name="ana@example.com",
        event_time=now,
        received_at=now,
        customer_id=member_id,
        calling_station_id=station.replace("-", ":").lower(),
    )


def test_class_tokens_come_from_the_system_a_pool_at_a_time_and_never_repeat() -> None:
    drawn: list[int] = []

    def urandom(size: int) -> bytes:
        drawn.append(size)
        return os.urandom(size)

    harness = Harness()
    ana = harness.add_member("ana@example.com", "24680")
    harness.engine = type(harness.engine)(
        harness.directory, harness.log, clock=harness.clock, monotonic=harness.clock, token=urandom
    )
    classes = set()
    sign_ins = TOKEN_POOL // TOKEN_SIZE + 10  # past the first pool
    for _ in range(sign_ins):
        reply, _ = _pap(harness, ana.email, "24680", PHONES[0])
        classes.add(_session_attributes(reply, ana.id))
    assert len(classes) == sign_ins
    assert drawn == [TOKEN_POOL, TOKEN_POOL]
    # An unknown email can never be accepted: it draws no token.
    _pap(harness, "nobody@example.com", "24680", PHONES[0])
    assert sum(drawn) == 2 * TOKEN_POOL


# -- this server's accounting feeds the view once durable ---------------------------------


class _Sink:
    """An accounting writer stand-in: the test says where each record was kept."""

    def __init__(self) -> None:
        self.pending: list[Callable[[str | None], None]] = []

    def submit(self, record: AccountingRecord, done: Callable[[str | None], None]) -> None:
        self.pending.append(done)


def _accounting_request(status: int, session: bytes, station: str, klass: bytes) -> bytes:
    attributes = [
        (c.ACCT_STATUS_TYPE, struct.pack("!I", status)),
        (c.USER_NAME, b"anonymous"),  # an outer identity: the Class names the member
        (c.ACCT_SESSION_ID, session),
        (c.CALLING_STATION_ID, station.encode()),
        (c.CLASS, klass),
    ]
    return encode_accounting_request(SECRET, identifier=3, attributes=attributes).packet


@pytest.mark.parametrize("stored", ["database", "spool"])
def test_a_durable_accounting_start_counts_the_device_at_once(stored: str) -> None:
    harness, ana = limited()
    sink = _Sink()
    harness.engine.accounting = sink
    harness.engine.send = lambda reply, address: None
    reply, _ = _pap(harness, "ana@example.com", "24680", PHONES[0])
    klass = _session_attributes(reply, ana)
    harness.clock.advance(120)  # the accept alone no longer counts
    assert harness.online is not None
    assert set(harness.online.stations(ana, harness.clock.now)) == set()
    harness.engine.handle_acct(
        _accounting_request(c.ACCT_STATUS_START, b"s1", PHONES[0], klass), (NAS_ADDRESS, 1813)
    )
    assert set(harness.online.stations(ana, harness.clock.now)) == set()  # not durable yet
    sink.pending.pop()(stored)
    assert set(harness.online.stations(ana, harness.clock.now)) == {"02:00:00:00:00:01"}


@pytest.mark.parametrize("stored", ["rejected", None])
def test_accounting_not_kept_counts_nothing(stored: str | None) -> None:
    harness, ana = limited()
    sink = _Sink()
    harness.engine.accounting = sink
    harness.engine.send = lambda reply, address: None
    reply, _ = _pap(harness, "ana@example.com", "24680", PHONES[0])
    klass = _session_attributes(reply, ana)
    harness.clock.advance(120)
    harness.engine.handle_acct(
        _accounting_request(c.ACCT_STATUS_START, b"s1", PHONES[0], klass), (NAS_ADDRESS, 1813)
    )
    sink.pending.pop()(stored)
    assert harness.online is not None
    assert set(harness.online.stations(ana, harness.clock.now)) == set()
