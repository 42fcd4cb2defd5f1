"""RFC 5176 client side: requests we build and replies we accept.

Known answers come from outside the code under test: a hashlib/hmac reference
(dynauth_reference.py) and pyrad's CoAPacket, which builds and verifies
Disconnect packets on its own.
"""

from __future__ import annotations

import hmac
import random
import re

import pytest
from pyrad.packet import CoAPacket, DisconnectNAK, DisconnectRequest

from radius_server.protocol import codes as c
from radius_server.protocol import load_dictionary
from radius_server.protocol.authenticator import Authenticity, check_request_authenticity
from radius_server.protocol.dynauth import (
    ERROR_CAUSE_NAMES,
    DynAuthReply,
    Refusal,
    ReplyKind,
    coa_attributes,
    decode_response,
    encode_request,
    error_cause_name,
    inspect_response,
    session_attributes,
)
from radius_server.protocol.errors import EncodeError
from radius_server.protocol.packet import decode_request
from radius_server.resources import dictionaries_dir
from tests.unit.protocol import dynauth_reference as ref

SECRET = b"das-shared-secret"
NOW = 1_700_000_000.75
SESSION = {
    "user_name": "ana@example.com",
    "acct_session_id": "5A3F0C1D2E3B4A59",
    "calling_station_id": "02-00-00-00-00-01",
    "nas_identifier": "ap-lobby",
    "nas_ip_address": "192.0.2.10",
}


def disconnect(identifier: int = 9, secret: bytes = SECRET) -> bytes:
    """Our Disconnect-Request for SESSION."""
    return encode_request(
        c.Code.DISCONNECT_REQUEST, identifier, secret, session_attributes(now=NOW, **SESSION)
    )


# --- requests ---------------------------------------------------------------------------


def test_request_matches_the_hashlib_reference_byte_for_byte() -> None:
    attributes = session_attributes(now=NOW, **SESSION)
    for code in (c.Code.DISCONNECT_REQUEST, c.Code.COA_REQUEST):
        for identifier in (0, 9, 255):
            expected = ref.sign_request(code, identifier, SECRET, attributes)
            assert encode_request(code, identifier, SECRET, attributes) == expected


def test_request_matches_pyrad_byte_for_byte_and_pyrad_verifies_it() -> None:
    packet = disconnect()
    built = CoAPacket(DisconnectRequest, 9, SECRET, dict=load_dictionary())
    built.add_message_authenticator()  # first, as we put it
    built["User-Name"] = SESSION["user_name"]
    built["Acct-Session-Id"] = SESSION["acct_session_id"]
    built["Calling-Station-Id"] = SESSION["calling_station_id"]
    built["NAS-Identifier"] = SESSION["nas_identifier"]
    built["NAS-IP-Address"] = SESSION["nas_ip_address"]
    built["Event-Timestamp"] = int(NOW)
    assert built.RequestPacket() == packet

    received = CoAPacket(packet=packet, secret=SECRET, dict=load_dictionary())
    assert received.VerifyCoARequest()
    assert received.verify_message_authenticator()
    assert not CoAPacket(packet=packet, secret=b"other", dict=load_dictionary()).VerifyCoARequest()


def test_request_passes_the_reference_das_check_and_our_own_decoder() -> None:
    packet = disconnect()
    assert ref.request_is_authentic(packet, SECRET)
    assert not ref.request_is_authentic(packet, b"wrong-secret")
    request = decode_request(packet)
    assert request.code == c.Code.DISCONNECT_REQUEST and request.identifier == 9
    assert request.attributes[0][0] == c.MESSAGE_AUTHENTICATOR  # first
    assert check_request_authenticity(request, SECRET) is Authenticity.OK
    assert check_request_authenticity(request, b"wrong") is Authenticity.BAD_AUTHENTICATOR


def test_message_authenticator_is_computed_over_a_zero_authenticator() -> None:
    """RFC 5176 3.4: inserted *before* the Request Authenticator is computed.

    A Message-Authenticator computed over the final Request Authenticator (the
    Access-Request rule) would not verify at a DAS; ours must differ from it.
    """
    packet = disconnect()
    offset = ref.find_ma(packet)
    assert offset == 22
    zeroed_ma = packet[:offset] + ref.ZEROS + packet[offset + 16 :]
    access_rule = hmac.new(SECRET, zeroed_ma, "md5").digest()
    assert packet[offset : offset + 16] != access_rule


def test_request_refuses_what_it_cannot_send() -> None:
    attributes = session_attributes(now=NOW, **SESSION)
    with pytest.raises(EncodeError):
        encode_request(c.Code.ACCOUNTING_REQUEST, 1, SECRET, attributes)
    with pytest.raises(EncodeError):
        encode_request(c.Code.DISCONNECT_REQUEST, 256, SECRET, attributes)
    with pytest.raises(EncodeError):
        encode_request(
            c.Code.DISCONNECT_REQUEST,
            1,
            SECRET,
            [*attributes, (c.MESSAGE_AUTHENTICATOR, bytes(16))],
        )
    with pytest.raises(EncodeError):
        encode_request(c.Code.DISCONNECT_REQUEST, 1, SECRET, [(c.USER_NAME, b"x" * 254)])


def test_session_attributes() -> None:
    attrs = session_attributes(now=NOW, **SESSION)
    assert attrs == [
        (c.USER_NAME, b"ana@example.com"),
        (c.ACCT_SESSION_ID, b"5A3F0C1D2E3B4A59"),
        (c.CALLING_STATION_ID, b"02-00-00-00-00-01"),
        (c.NAS_IDENTIFIER, b"ap-lobby"),
        (c.NAS_IP_ADDRESS, bytes([192, 0, 2, 10])),
        (c.EVENT_TIMESTAMP, (1_700_000_000).to_bytes(4, "big")),
    ]
    # Absent or empty values are left out; Event-Timestamp always goes in.
    only = session_attributes(
        now=5, user_name="bo", acct_session_id="", nas_ip_address="2001:db8::1"
    )
    assert only == [
        (c.USER_NAME, b"bo"),
        (c.NAS_IPV6_ADDRESS, bytes.fromhex("20010db8000000000000000000000001")),
        (c.EVENT_TIMESTAMP, (5).to_bytes(4, "big")),
    ]
    assert session_attributes(now=1) == [(c.EVENT_TIMESTAMP, (1).to_bytes(4, "big"))]
    # UTF-8 text, as the NAS sent it.
    assert session_attributes(now=1, user_name="zoë")[0] == (c.USER_NAME, "zoë".encode())


@pytest.mark.parametrize(
    "field",
    [
        {"nas_ip_address": "not-an-address"},
        {"nas_ip_address": "192.0.2.300"},
        {"user_name": "x" * 254},
    ],
)
def test_session_attributes_refuse_bad_values(field: dict[str, str]) -> None:
    with pytest.raises(EncodeError):
        session_attributes(now=NOW, **field)


# --- replies ----------------------------------------------------------------------------


def reply(
    code: int = c.Code.DISCONNECT_ACK,
    identifier: int = 9,
    *,
    request: bytes | None = None,
    secret: bytes = SECRET,
    attributes: list[tuple[int, bytes]] | None = None,
    **options: object,
) -> tuple[bytes, bytes]:
    """(reply, request authenticator): a reference-signed answer to ``disconnect()``."""
    request = disconnect() if request is None else request
    authenticator = request[4:20]
    data = ref.sign_reply(
        code,
        identifier,
        authenticator,
        secret,
        [] if attributes is None else attributes,
        **options,  # type: ignore[arg-type]
    )
    return data, authenticator


def test_ack_is_accepted() -> None:
    data, authenticator = reply(attributes=[(c.EVENT_TIMESTAMP, b"\x65\x53\xf1\x00")])
    result = decode_response(data, 9, authenticator, SECRET, request_code=c.Code.DISCONNECT_REQUEST)
    assert isinstance(result, DynAuthReply)
    assert result.kind is ReplyKind.ACK and result.acked
    assert result.code == c.Code.DISCONNECT_ACK and result.identifier == 9
    assert result.error_cause is None and result.error_name is None
    assert (c.EVENT_TIMESTAMP, b"\x65\x53\xf1\x00") in result.attributes


def test_nak_carries_its_error_cause_and_name() -> None:
    data, authenticator = reply(c.Code.DISCONNECT_NAK, attributes=[ref.error_cause(503)])
    result = decode_response(data, 9, authenticator, SECRET, request_code=c.Code.DISCONNECT_REQUEST)
    assert result is not None
    assert result.kind is ReplyKind.NAK and not result.acked
    assert (result.error_cause, result.error_name) == (503, "Session-Context-Not-Found")


def test_reply_built_by_pyrad_is_accepted() -> None:
    packet = disconnect()
    request = CoAPacket(packet=packet, secret=SECRET, dict=load_dictionary())
    answer = request.CreateReply()
    answer.code = DisconnectNAK
    answer["Error-Cause"] = 403
    answer.add_message_authenticator()
    data = answer.ReplyPacket()
    result = decode_response(data, 9, packet[4:20], SECRET, request_code=c.Code.DISCONNECT_REQUEST)
    assert result is not None
    assert (result.error_cause, result.error_name) == (403, "NAS-Identification-Mismatch")


def test_coa_replies() -> None:
    packet = encode_request(c.Code.COA_REQUEST, 3, SECRET, session_attributes(now=NOW))
    ack, authenticator = reply(c.Code.COA_ACK, 3, request=packet)
    assert inspect_response(ack, 3, authenticator, SECRET, request_code=c.Code.COA_REQUEST) == (
        decode_response(ack, 3, authenticator, SECRET)
    )
    nak, _ = reply(c.Code.COA_NAK, 3, request=packet, attributes=[ref.error_cause(405)])
    result = decode_response(nak, 3, authenticator, SECRET, request_code=c.Code.COA_REQUEST)
    assert result is not None and result.kind is ReplyKind.NAK
    assert result.error_name == "Unsupported-Service"
    # A CoA answer does not answer a Disconnect-Request, nor the other way round.
    assert (
        inspect_response(ack, 3, authenticator, SECRET, request_code=c.Code.DISCONNECT_REQUEST)
        is Refusal.UNEXPECTED_CODE
    )


def test_tampered_replies_are_refused() -> None:
    data, authenticator = reply(c.Code.DISCONNECT_NAK, attributes=[ref.error_cause(503)])
    assert decode_response(data, 9, authenticator, SECRET) is not None
    # Every single flipped bit of the header or attributes, except the Length field's
    # (framing) and the Identifier's (matching), breaks the authenticators.
    for index in [0, *range(4, len(data))]:
        for bit in (0x01, 0x80):
            bad = bytearray(data)
            bad[index] ^= bit
            assert decode_response(bytes(bad), 9, authenticator, SECRET) is None, (index, bit)
    assert decode_response(data, 9, authenticator, b"another-secret") is None
    assert decode_response(data, 9, bytes(16), SECRET) is None  # not our request


def test_refusal_reasons() -> None:
    data, authenticator = reply()

    def why(packet: bytes, identifier: int = 9, **kw: object) -> object:
        return inspect_response(packet, identifier, authenticator, SECRET, **kw)  # type: ignore[arg-type]

    assert why(data[:19]) is Refusal.MALFORMED
    assert why(data[:2] + b"\x00\x10" + data[4:]) is Refusal.MALFORMED  # Length < 20
    assert why(data, identifier=10) is Refusal.WRONG_IDENTIFIER
    for code in (c.Code.ACCESS_ACCEPT, c.Code.ACCOUNTING_RESPONSE, c.Code.DISCONNECT_REQUEST):
        other, _ = reply(code)
        assert why(other) is Refusal.UNEXPECTED_CODE
    bad_secret, _ = reply(secret=b"nope")
    assert why(bad_secret) is Refusal.BAD_AUTHENTICATOR


def test_message_authenticator_is_checked_when_present() -> None:
    """A wrong Message-Authenticator under a right Response Authenticator is refused.

    Both the old "zero vector" signing and a plain wrong value; RFC 5176 3.4 (and
    hostapd) sign replies over the Request Authenticator.
    """
    for vector in (bytes(16), b"\x01" * 16):
        data, authenticator = reply(ma_vector=vector)
        assert inspect_response(data, 9, authenticator, SECRET) is Refusal.BAD_AUTHENTICATOR


def test_message_authenticator_may_be_required() -> None:
    data, authenticator = reply(message_authenticator=False)
    assert decode_response(data, 9, authenticator, SECRET) is not None
    assert (
        inspect_response(data, 9, authenticator, SECRET, require_message_authenticator=True)
        is Refusal.MISSING_MESSAGE_AUTHENTICATOR
    )
    signed, authenticator = reply()
    assert decode_response(signed, 9, authenticator, SECRET, require_message_authenticator=True)


def test_unusual_error_causes() -> None:
    # An unknown value has no name; a broken (not four-octet) one is no cause at all.
    for attribute, expected in (
        (ref.error_cause(999), (999, None)),
        ((c.ERROR_CAUSE, b"\x01\xf7"), (None, None)),
    ):
        data, authenticator = reply(c.Code.DISCONNECT_NAK, attributes=[attribute])
        result = decode_response(data, 9, authenticator, SECRET)
        assert result is not None
        assert (result.error_cause, result.error_name) == expected
    # A success cause on an ACK (RFC 5176 3.5, 201).
    data, authenticator = reply(attributes=[ref.error_cause(201)])
    result = decode_response(data, 9, authenticator, SECRET)
    assert result is not None and result.acked and result.error_name == "Residual-Context-Removed"


def test_error_cause_names_follow_the_dictionary() -> None:
    """Our names are the VALUE names of dictionaries/dictionary.rfc5176."""
    text = (dictionaries_dir() / "dictionary.rfc5176").read_text()
    values = {
        int(number): name
        for name, number in re.findall(r"^VALUE\s+Error-Cause\s+(\S+)\s+(\d+)", text, re.MULTILINE)
    }
    assert values == ERROR_CAUSE_NAMES
    assert error_cause_name(503) == "Session-Context-Not-Found"
    assert error_cause_name(1) is None


def test_garbage_never_raises() -> None:
    """Random datagrams: a refusal every time, never an exception."""
    _, authenticator = reply()
    rng = random.Random(5176)
    for _ in range(3000):
        size = rng.choice([0, 1, 19, 20, 21, 38, 60, 300, 4096, 5000])
        data = bytearray(rng.randbytes(size))
        if size >= 20 and rng.random() < 0.8:
            data[0] = rng.choice([41, 42, 44, 45])
            data[1] = 9
            length = rng.randint(20, size)
            data[2:4] = length.to_bytes(2, "big")
        assert isinstance(inspect_response(bytes(data), 9, authenticator, SECRET), Refusal)


# --- CoA-Request (RFC 5176 3.3): the session plus its new authorization ------------------

# Session-Timeout 3600, VLAN 20 (RFC 3580 3.31), WISPr-Bandwidth-Max-Down 10 Mbit/s.
AUTHORIZATION = [
    (c.SESSION_TIMEOUT, (3600).to_bytes(4, "big")),
    (c.TUNNEL_TYPE, (13).to_bytes(4, "big")),
    (c.TUNNEL_MEDIUM_TYPE, (6).to_bytes(4, "big")),
    (c.TUNNEL_PRIVATE_GROUP_ID, b"20"),
    (c.VENDOR_SPECIFIC, bytes.fromhex("0000372a080600989680")),
]
# Written out by hand, type/length/value: what the authorization looks like on the wire.
AUTHORIZATION_WIRE = bytes.fromhex(
    " ".join(
        [
            "1b06 00000e10",  # Session-Timeout = 3600
            "4006 0000000d",  # Tunnel-Type = VLAN (13)
            "4106 00000006",  # Tunnel-Medium-Type = IEEE-802 (6)
            "5104 3230",  # Tunnel-Private-Group-Id = "20"
            "1a0c 0000372a 0806 00989680",  # WISPr (14122) Bandwidth-Max-Down = 10000000
        ]
    )
)
COA_GOLDEN = bytes.fromhex(
    "2b090094a5f89ba4c0b7e9a02ff175ca145447ec5012f742e6c3afea729fc25780af6d425a1f01116"
    "16e61406578616d706c652e636f6d2c12354133463043314432453342344135391f1330322d30302d"
    "30302d30302d30302d3031200a61702d6c6f6262790406c000020a"
    + AUTHORIZATION_WIRE.hex()
    + "37066553f100"
)


def coa(identifier: int = 9, secret: bytes = SECRET) -> bytes:
    """Our CoA-Request for SESSION with AUTHORIZATION."""
    attributes = coa_attributes(session_attributes(now=NOW, **SESSION), AUTHORIZATION)
    return encode_request(c.Code.COA_REQUEST, identifier, secret, attributes)


def test_coa_request_golden_bytes() -> None:
    packet = coa()
    assert packet == COA_GOLDEN
    assert packet[0] == 43 and packet[1] == 9  # CoA-Request, RFC 5176 2.2
    # Message-Authenticator first, then the session, the authorization, Event-Timestamp last.
    assert packet[20:22] == b"\x50\x12"
    assert (
        AUTHORIZATION_WIRE + bytes.fromhex("37066553f100") == packet[-len(AUTHORIZATION_WIRE) - 6 :]
    )
    attributes = coa_attributes(session_attributes(now=NOW, **SESSION), AUTHORIZATION)
    assert packet == ref.sign_request(c.Code.COA_REQUEST, 9, SECRET, attributes)
    assert ref.request_is_authentic(packet, SECRET)
    assert not ref.request_is_authentic(packet, b"wrong-secret")


def test_coa_request_pyrad_verifies_it_and_reads_the_attributes() -> None:
    packet = coa()
    received = CoAPacket(packet=packet, secret=SECRET, dict=load_dictionary())
    assert received.code == 43
    assert received.VerifyCoARequest()
    assert received.verify_message_authenticator()
    assert received["Session-Timeout"] == [3600]
    assert received["Tunnel-Type"] == ["VLAN"]
    assert received["Tunnel-Private-Group-Id"] == ["20"]
    assert received["WISPr-Bandwidth-Max-Down"] == [10_000_000]
    assert received["User-Name"] == [SESSION["user_name"]]
    assert received["Event-Timestamp"]


def test_coa_attributes_order_and_refusals() -> None:
    identification = session_attributes(now=NOW, user_name="bo")
    assert coa_attributes(identification, AUTHORIZATION[:1]) == [
        (c.USER_NAME, b"bo"),
        (c.SESSION_TIMEOUT, (3600).to_bytes(4, "big")),
        (c.EVENT_TIMESTAMP, int(NOW).to_bytes(4, "big")),
    ]
    with pytest.raises(EncodeError, match="at least one"):
        coa_attributes(identification, [])
    for forbidden in (
        c.USER_NAME,
        c.ACCT_SESSION_ID,
        c.CALLING_STATION_ID,
        c.NAS_IP_ADDRESS,
        c.EVENT_TIMESTAMP,
        c.MESSAGE_AUTHENTICATOR,
        c.USER_PASSWORD,
        c.ERROR_CAUSE,
    ):
        with pytest.raises(EncodeError, match=f"attribute {forbidden} "):
            coa_attributes(identification, [(forbidden, b"\x00\x00\x00\x01")])


def test_coa_ack_and_nak_answer_only_a_coa_request() -> None:
    packet = coa()
    ack = ref.sign_reply(c.Code.COA_ACK, 9, packet[4:20], SECRET, [])
    reply = decode_response(ack, 9, packet[4:20], SECRET, request_code=c.Code.COA_REQUEST)
    assert reply is not None and reply.acked and reply.code == 44
    nak = ref.sign_reply(c.Code.COA_NAK, 9, packet[4:20], SECRET, [(101, (401).to_bytes(4, "big"))])
    reply = decode_response(nak, 9, packet[4:20], SECRET, request_code=c.Code.COA_REQUEST)
    assert reply is not None and not reply.acked
    assert (reply.code, reply.error_cause, reply.error_name) == (45, 401, "Unsupported-Attribute")
    # A Disconnect-ACK is no answer to a CoA-Request.
    wrong = ref.sign_reply(c.Code.DISCONNECT_ACK, 9, packet[4:20], SECRET, [])
    assert (
        inspect_response(wrong, 9, packet[4:20], SECRET, request_code=c.Code.COA_REQUEST)
        is Refusal.UNEXPECTED_CODE
    )
