"""Decoding: the RFC 2865 section 7 golden packets and a table of malformed inputs."""

from __future__ import annotations

import pytest

from radius_server.protocol import (
    MalformedPacket,
    MalformedReason,
    ProtocolError,
    decode_request,
    decrypt_password,
)
from radius_server.protocol import codes as c
from tests.unit.protocol.protocol_samples import (
    FIXED_AUTHENTICATOR,
    RFC2865_7_1_REQUEST,
    RFC2865_7_2_REQUEST,
    RFC_SECRET,
    pap_request,
)


def build_raw(body: bytes, code: int = 1, length: int | None = None) -> bytes:
    """An unsigned packet around raw attribute bytes (framing tests need no secret)."""
    size = 20 + len(body) if length is None else length
    return bytes((code, 42)) + size.to_bytes(2, "big") + FIXED_AUTHENTICATOR + body


def build(attributes: list[tuple[int, bytes]], code: int = 1, length: int | None = None) -> bytes:
    """An unsigned packet with the given attributes."""
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attributes)
    return build_raw(body, code, length)


def test_rfc2865_7_1_pap_request() -> None:
    request = decode_request(RFC2865_7_1_REQUEST)
    assert request.code == c.Code.ACCESS_REQUEST
    assert request.identifier == 0
    assert request.authenticator == bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
    assert request.user_name == "nemo"
    assert request.nas_ip_address == "192.168.1.16"
    assert request.nas_port == 3
    assert request.user_password is not None
    assert decrypt_password(request.user_password, RFC_SECRET, request.authenticator) == (
        b"arctangent"
    )
    assert [t for t, _ in request.attributes] == [1, 2, 4, 5]
    assert request.message_authenticator is None
    assert request.raw == RFC2865_7_1_REQUEST


def test_rfc2865_7_2_chap_request() -> None:
    request = decode_request(RFC2865_7_2_REQUEST)
    assert request.identifier == 1
    assert request.user_name == "flopsy"
    assert request.chap_password == bytes.fromhex("16e97557c316185895f293ff6344077275")
    assert request.chap_challenge is None  # the Request Authenticator is the challenge
    assert request.nas_ip_address == "192.168.1.16"
    assert request.nas_port == 20
    assert request.service_type == 2  # Framed-User
    assert request.get(7) == (1).to_bytes(4, "big")  # Framed-Protocol = PPP
    assert request.user_password is None


def test_typical_request_fields() -> None:
    request = decode_request(pap_request())
    assert request.user_name == "ada@example.org"
    assert request.called_station_id == "AA-BB-CC-DD-EE-FF:Cowork"
    assert request.calling_station_id == "11-22-33-44-55-66"
    assert request.nas_identifier == "ap-lobby"
    assert request.nas_port_type == 19
    assert request.message_authenticator is not None
    assert request.message_authenticator_offset == 22  # first attribute, after its header
    assert request.proxy_states == ()
    assert request.eap_message is None


def test_empty_user_name_is_reported_not_refused() -> None:
    """hostapd's empty EAP identity: decoded, flagged, so the engine can answer it."""
    request = decode_request(build([(c.USER_NAME, b""), (c.NAS_PORT, bytes(4))]))
    assert request.user_name is None and request.empty_user_name
    assert not decode_request(pap_request()).empty_user_name
    assert not decode_request(build([(c.NAS_PORT, bytes(4))])).empty_user_name


def test_padding_beyond_length_is_ignored() -> None:
    packet = RFC2865_7_1_REQUEST + b"\x00garbage"
    request = decode_request(packet)
    assert request.raw == RFC2865_7_1_REQUEST
    assert request.user_name == "nemo"


def test_proxy_states_eap_and_vendor_attributes() -> None:
    ms_challenge = (311).to_bytes(4, "big") + bytes((11, 18)) + bytes(16)
    packet = build(
        [
            (c.PROXY_STATE, b"first"),
            (c.EAP_MESSAGE, b"\x02\x01"),
            (c.EAP_MESSAGE, b"\x00\x06\x01x"),
            (c.PROXY_STATE, b"second"),
            (c.VENDOR_SPECIFIC, ms_challenge),
            (c.VENDOR_SPECIFIC, (9).to_bytes(4, "big") + b"\xff"),  # unknown layout: kept raw
            (c.STATE, b"st"),
            (c.ACCT_STATUS_TYPE, (1).to_bytes(4, "big")),
            (c.ACCT_SESSION_ID, b"abc\xff"),
        ]
    )
    request = decode_request(packet)
    assert request.proxy_states == (b"first", b"second")
    assert request.eap_message == b"\x02\x01\x00\x06\x01x"
    assert request.vendor_attributes == ((311, 11, bytes(16)),)
    assert request.vendor_attribute(311, 11) == bytes(16)
    assert request.vendor_attribute(311, 25) is None
    assert request.state == b"st"
    assert request.acct_status_type == 1
    assert request.acct_session_id == "abc\ufffd"
    assert request.get_all(c.PROXY_STATE) == [b"first", b"second"]


def test_eap_start_is_an_empty_eap_message() -> None:
    # RFC 3579 3.1: an EAP-Message of Length 2 is EAP-Start.
    assert decode_request(build([(c.EAP_MESSAGE, b"")])).eap_message == b""


def test_max_length_packet_accepted() -> None:
    attrs = [(c.CLASS, b"x" * 253)] * 15
    filler = 4096 - 20 - 15 * 255
    packet = build([*attrs, (c.REPLY_MESSAGE, b"y" * (filler - 2))])
    assert len(packet) == 4096
    assert len(decode_request(packet).attributes) == 16


def _too_long() -> bytes:
    return build([(c.CLASS, b"x" * 253)] * 17)


MALFORMED = [
    ("empty", b"", MalformedReason.TRUNCATED),
    ("short header", RFC2865_7_1_REQUEST[:19], MalformedReason.TRUNCATED),
    ("shorter than Length", RFC2865_7_1_REQUEST[:-1], MalformedReason.TRUNCATED),
    ("Length below 20", build([], length=19), MalformedReason.BAD_LENGTH),
    ("Length above 4096", _too_long(), MalformedReason.TOO_LONG),
    ("zero attribute length", build_raw(b"\x01\x00nemo"), MalformedReason.BAD_ATTRIBUTE_LENGTH),
    ("attribute length 1", build_raw(b"\x01\x01"), MalformedReason.BAD_ATTRIBUTE_LENGTH),
    ("lone type octet", build_raw(b"\x01\x03n\x01"), MalformedReason.BAD_ATTRIBUTE_LENGTH),
    ("attribute past the end", build_raw(b"\x01\x08nemo"), MalformedReason.BAD_ATTRIBUTE_LENGTH),
    (
        "attribute past Length, inside the datagram",
        build_raw(b"\x01\x06nemo", length=24),
        MalformedReason.BAD_ATTRIBUTE_LENGTH,
    ),
    (
        "NAS-IP-Address of 3",
        build([(c.NAS_IP_ADDRESS, b"abc")]),
        MalformedReason.BAD_ATTRIBUTE_LENGTH,
    ),
    ("NAS-Port of 2", build([(c.NAS_PORT, b"ab")]), MalformedReason.BAD_ATTRIBUTE_LENGTH),
    (
        "CHAP-Password of 16",
        build([(c.CHAP_PASSWORD, bytes(16))]),
        MalformedReason.BAD_ATTRIBUTE_LENGTH,
    ),
    (
        "Message-Authenticator of 15",
        build([(c.MESSAGE_AUTHENTICATOR, bytes(15))]),
        MalformedReason.BAD_ATTRIBUTE_LENGTH,
    ),
    ("empty State", build([(c.STATE, b"")]), MalformedReason.BAD_ATTRIBUTE_LENGTH),
    (
        "CHAP-Challenge of 4",
        build([(c.CHAP_CHALLENGE, b"abcd")]),
        MalformedReason.BAD_ATTRIBUTE_LENGTH,
    ),
    (
        "short VSA",
        build([(c.VENDOR_SPECIFIC, b"\x00\x00\x01")]),
        MalformedReason.BAD_ATTRIBUTE_LENGTH,
    ),
    (
        "broken Microsoft VSA",
        build([(c.VENDOR_SPECIFIC, (311).to_bytes(4, "big") + b"\x0b\x09ab")]),
        MalformedReason.BAD_VENDOR_ATTRIBUTE,
    ),
    (
        "duplicate MS-CHAP2-Response",
        build([(c.VENDOR_SPECIFIC, (311).to_bytes(4, "big") + bytes((25, 4)) + b"ab")] * 2),
        MalformedReason.DUPLICATE_ATTRIBUTE,
    ),
    (
        "duplicate User-Name",
        build([(c.USER_NAME, b"a"), (c.USER_NAME, b"b")]),
        MalformedReason.DUPLICATE_ATTRIBUTE,
    ),
    (
        "duplicate User-Password",
        build([(c.USER_PASSWORD, bytes(16)), (c.USER_PASSWORD, bytes(16))]),
        MalformedReason.DUPLICATE_ATTRIBUTE,
    ),
    (
        "duplicate CHAP-Password",
        build([(c.CHAP_PASSWORD, bytes(17)), (c.CHAP_PASSWORD, bytes(17))]),
        MalformedReason.DUPLICATE_ATTRIBUTE,
    ),
    (
        "duplicate Message-Authenticator",
        build([(c.MESSAGE_AUTHENTICATOR, bytes(16))] * 2),
        MalformedReason.DUPLICATE_ATTRIBUTE,
    ),
    (
        "User-Password of 15",
        build([(c.USER_PASSWORD, bytes(15))]),
        MalformedReason.BAD_PASSWORD_LENGTH,
    ),
    (
        "User-Password of 17",
        build([(c.USER_PASSWORD, bytes(17))]),
        MalformedReason.BAD_PASSWORD_LENGTH,
    ),
    (
        "User-Password of 144",
        build([(c.USER_PASSWORD, bytes(144))]),
        MalformedReason.BAD_PASSWORD_LENGTH,
    ),
    ("non-UTF-8 User-Name", build([(c.USER_NAME, b"nemo\xff")]), MalformedReason.BAD_UTF8),
    ("overlong UTF-8 User-Name", build([(c.USER_NAME, b"\xc0\xaf")]), MalformedReason.BAD_UTF8),
    (
        "PAP and CHAP together",
        build([(c.USER_PASSWORD, bytes(16)), (c.CHAP_PASSWORD, bytes(17))]),
        MalformedReason.CONFLICTING_ATTRIBUTES,
    ),
    (
        "PAP and EAP together",
        build([(c.USER_PASSWORD, bytes(16)), (c.EAP_MESSAGE, b"\x02\x01\x00\x04")]),
        MalformedReason.CONFLICTING_ATTRIBUTES,
    ),
    (
        "EAP-Message not consecutive",
        build([(c.EAP_MESSAGE, b"a"), (c.USER_NAME, b"u"), (c.EAP_MESSAGE, b"b")]),
        MalformedReason.BAD_EAP_MESSAGE,
    ),
]


@pytest.mark.parametrize(
    ("packet", "reason"),
    [pytest.param(packet, reason, id=name) for name, packet, reason in MALFORMED],
)
def test_malformed_packets_are_refused(packet: bytes, reason: MalformedReason) -> None:
    with pytest.raises(MalformedPacket) as caught:
        decode_request(packet)
    assert caught.value.reason is reason
    assert isinstance(caught.value, ProtocolError)
    assert str(caught.value) == reason.value  # the message is the reason, never bytes


def test_error_never_carries_the_password() -> None:
    secret_text = b"TOPSECRETPIN0000"
    packet = build([(c.USER_PASSWORD, secret_text + b"x")])
    with pytest.raises(MalformedPacket) as caught:
        decode_request(packet)
    assert "TOPSECRET" not in repr(caught.value)
    assert caught.value.args == ("bad_password_length",)


def test_request_is_immutable() -> None:
    request = decode_request(RFC2865_7_1_REQUEST)
    with pytest.raises(AttributeError):
        request.user_name = "other"  # type: ignore[misc]
