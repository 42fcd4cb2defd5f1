"""Authenticity (Message-Authenticator, Accounting Request Authenticator), PAP and CHAP."""

from __future__ import annotations

import hashlib

import pytest

from radius_server.protocol import (
    Authenticity,
    MalformedPacket,
    check_request_authenticity,
    decode_request,
    decrypt_password,
    decrypt_pin,
    encode_accounting_request,
    encode_request,
    encrypt_password,
    pin_matches,
    verify_chap,
    verify_chap_request,
    verify_hashed_request_authenticator,
    verify_message_authenticator,
)
from radius_server.protocol import codes as c
from radius_server.protocol.chap import encode_chap_password
from tests.unit.protocol.protocol_samples import (
    FIXED_AUTHENTICATOR,
    PIN,
    RFC2865_7_1_REQUEST,
    RFC2865_7_2_REQUEST,
    RFC5997_STATUS_SERVER,
    RFC_SECRET,
    SECRET,
    pap_request,
)


def flip(packet: bytes, index: int) -> bytes:
    return packet[:index] + bytes((packet[index] ^ 0x01,)) + packet[index + 1 :]


# --- Message-Authenticator -------------------------------------------------------


def test_rfc5997_status_server_message_authenticator() -> None:
    request = decode_request(RFC5997_STATUS_SERVER)
    assert request.code == c.Code.STATUS_SERVER
    assert verify_message_authenticator(request, RFC_SECRET)
    assert check_request_authenticity(request, RFC_SECRET) is Authenticity.OK
    assert check_request_authenticity(request, b"wrong") is Authenticity.BAD_AUTHENTICATOR


def test_message_authenticator_good() -> None:
    request = decode_request(pap_request())
    assert verify_message_authenticator(request, SECRET)
    assert check_request_authenticity(request, SECRET) is Authenticity.OK


def test_message_authenticator_wrong_secret() -> None:
    request = decode_request(pap_request())
    assert not verify_message_authenticator(request, b"not-the-secret")
    assert check_request_authenticity(request, b"not-the-secret") is Authenticity.BAD_AUTHENTICATOR


@pytest.mark.parametrize("index", [0 + 1, 5, 19, 25, 40, -1])
def test_message_authenticator_detects_tampering(index: int) -> None:
    packet = pap_request()
    tampered = flip(packet, index if index >= 0 else len(packet) - 1)
    request = decode_request(tampered)
    assert check_request_authenticity(request, SECRET) is Authenticity.BAD_AUTHENTICATOR


def test_message_authenticator_absent() -> None:
    request = decode_request(RFC2865_7_1_REQUEST)
    assert not verify_message_authenticator(request, RFC_SECRET)
    assert (
        check_request_authenticity(request, RFC_SECRET)
        is Authenticity.MISSING_MESSAGE_AUTHENTICATOR
    )
    # Switched off per client for equipment that cannot send it:
    assert (
        check_request_authenticity(request, RFC_SECRET, require_message_authenticator=False)
        is Authenticity.OK
    )


def test_eap_without_message_authenticator_is_always_refused() -> None:
    sent = encode_request(
        SECRET, identifier=1, user_name="x", password=PIN, message_authenticator=False
    )
    # Swap the User-Password for an EAP-Message by hand (no signature needed to test this).
    raw = sent.packet
    body = bytes((c.USER_NAME, 3)) + b"x" + bytes((c.EAP_MESSAGE, 6)) + b"\x02\x01\x00\x04"
    packet = raw[:2] + (20 + len(body)).to_bytes(2, "big") + raw[4:20] + body
    request = decode_request(packet)
    assert (
        check_request_authenticity(request, SECRET, require_message_authenticator=False)
        is Authenticity.MISSING_MESSAGE_AUTHENTICATOR
    )


def test_status_server_without_message_authenticator_is_refused() -> None:
    packet = bytes((12, 1, 0, 20)) + FIXED_AUTHENTICATOR
    request = decode_request(packet)
    assert (
        check_request_authenticity(request, SECRET, require_message_authenticator=False)
        is Authenticity.MISSING_MESSAGE_AUTHENTICATOR
    )


def test_unexpected_code_cannot_be_authentic() -> None:
    packet = bytes((2, 1, 0, 20)) + FIXED_AUTHENTICATOR
    assert check_request_authenticity(decode_request(packet), SECRET) is (
        Authenticity.BAD_AUTHENTICATOR
    )


# --- Accounting-Request Request Authenticator (RFC 2866 3) ---------------------------


def _accounting(message_authenticator: bool = False) -> bytes:
    return encode_accounting_request(
        SECRET,
        identifier=9,
        attributes=[
            (c.ACCT_STATUS_TYPE, (1).to_bytes(4, "big")),
            (c.ACCT_SESSION_ID, b"sess-1"),
            (c.USER_NAME, b"ada@example.org"),
        ],
        message_authenticator=message_authenticator,
    ).packet


def test_accounting_request_authenticator_is_rfc2866_md5() -> None:
    packet = _accounting()
    expected = hashlib.md5(packet[:4] + bytes(16) + packet[20:] + SECRET).digest()  # noqa: S324 - RFC-mandated MD5
    assert packet[4:20] == expected
    request = decode_request(packet)
    assert request.acct_status_type == c.ACCT_STATUS_START
    assert request.acct_session_id == "sess-1"
    assert verify_hashed_request_authenticator(request, SECRET)
    assert check_request_authenticity(request, SECRET) is Authenticity.OK
    assert check_request_authenticity(request, b"other") is Authenticity.BAD_AUTHENTICATOR
    tampered = decode_request(flip(packet, len(packet) - 1))
    assert check_request_authenticity(tampered, SECRET) is Authenticity.BAD_AUTHENTICATOR


def test_accounting_request_with_message_authenticator() -> None:
    request = decode_request(_accounting(message_authenticator=True))
    assert request.message_authenticator is not None
    assert verify_message_authenticator(request, SECRET)
    assert check_request_authenticity(request, SECRET) is Authenticity.OK


def test_accounting_request_checked_by_pyrad() -> None:
    from pyrad.packet import AcctPacket

    from radius_server.protocol import load_dictionary

    pkt = AcctPacket(packet=_accounting(), secret=SECRET, dict=load_dictionary())
    assert pkt.VerifyAcctRequest()


# --- PAP (RFC 2865 5.2) ----------------------------------------------------------


def test_decrypt_pin_of_typical_request() -> None:
    request = decode_request(pap_request())
    assert request.user_password is not None
    pin = decrypt_pin(request.user_password, SECRET, request.authenticator)
    assert pin == PIN
    assert pin_matches(pin, PIN)
    assert not pin_matches(pin, b"48214")
    assert not pin_matches(None, PIN)


def test_decrypt_pin_with_wrong_secret_is_none() -> None:
    request = decode_request(pap_request())
    assert request.user_password is not None
    assert decrypt_pin(request.user_password, b"wrong-secret", request.authenticator) is None


@pytest.mark.parametrize(
    "plain",
    [
        b"1234",
        b"123456",
        b"1\xff2345",  # pyrad's PwDecrypt would return "12345" here
        b"12a45",
        b"\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5",  # Arabic-Indic digits in UTF-8
        b"12345\x00x",  # NULs inside are not padding
        b"",
    ],
)
def test_decrypt_pin_refuses_non_pins(plain: bytes) -> None:
    encrypted = encrypt_password(plain, SECRET, FIXED_AUTHENTICATOR)
    assert decrypt_pin(encrypted, SECRET, FIXED_AUTHENTICATOR) is None


def test_decrypt_pin_accepts_a_longer_padding() -> None:
    encrypted = encrypt_password(PIN + bytes(20), SECRET, FIXED_AUTHENTICATOR)
    assert len(encrypted) == 32
    assert decrypt_pin(encrypted, SECRET, FIXED_AUTHENTICATOR) == PIN


def test_decrypt_pin_bad_length_is_none() -> None:
    assert decrypt_pin(bytes(17), SECRET, FIXED_AUTHENTICATOR) is None


@pytest.mark.parametrize("password", [b"", b"a", b"x" * 16, b"y" * 17, b"z" * 128])
def test_password_round_trip(password: bytes) -> None:
    encrypted = encrypt_password(password, SECRET, FIXED_AUTHENTICATOR)
    assert len(encrypted) % 16 == 0 and 16 <= len(encrypted) <= 128
    assert decrypt_password(encrypted, SECRET, FIXED_AUTHENTICATOR) == password


def test_password_matches_pyrad_pwcrypt() -> None:
    from pyrad.packet import AuthPacket

    pkt = AuthPacket(secret=SECRET, authenticator=FIXED_AUTHENTICATOR)
    ours = encrypt_password(b"a longer password!", SECRET, FIXED_AUTHENTICATOR)
    assert pkt.PwCrypt(b"a longer password!") == ours


def test_decrypt_password_bad_length_raises_protocol_error() -> None:
    with pytest.raises(MalformedPacket):
        decrypt_password(bytes(20), SECRET, FIXED_AUTHENTICATOR)


# --- CHAP (RFC 1994, RFC 2865 5.3) ------------------------------------------------


def test_rfc2865_7_2_chap_response_layout() -> None:
    request = decode_request(RFC2865_7_2_REQUEST)
    assert request.chap_password is not None
    # The RFC does not publish flopsy's password; check the challenge rule instead:
    # the Request Authenticator is the challenge, the ident is the first octet.
    assert request.chap_password[0] == 0x16
    assert not verify_chap_request(request, b"wrong")


@pytest.mark.parametrize("with_challenge_attribute", [False, True])
def test_chap_request_round_trip(with_challenge_attribute: bool) -> None:
    challenge = bytes(range(100, 116)) if with_challenge_attribute else None
    sent = encode_request(
        SECRET,
        identifier=3,
        user_name="ada@example.org",
        password=PIN,
        method="chap",
        chap_id=0x42,
        chap_challenge=challenge,
    )
    request = decode_request(sent.packet)
    assert request.chap_challenge == challenge
    assert verify_chap_request(request, PIN)
    assert not verify_chap_request(request, b"48214")
    assert not verify_chap_request(decode_request(pap_request()), PIN)


def test_chap_matches_pyrad() -> None:
    from pyrad.packet import AuthPacket

    from radius_server.protocol import load_dictionary

    sent = encode_request(
        SECRET, identifier=3, user_name="u", password=PIN, method="chap", chap_id=7
    )
    pkt = AuthPacket(packet=sent.packet, secret=SECRET, dict=load_dictionary())
    assert pkt.VerifyChapPasswd(PIN)


def test_verify_chap_wrong_length_is_false() -> None:
    assert not verify_chap(bytes(16), FIXED_AUTHENTICATOR, PIN)
    value = encode_chap_password(1, PIN, FIXED_AUTHENTICATOR)
    assert verify_chap(value, FIXED_AUTHENTICATOR, PIN)
    assert not verify_chap(value, bytes(16), PIN)
