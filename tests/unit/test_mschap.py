"""MS-CHAPv2 against RFC 2759 9.2 and MPPE keys against RFC 3079 3.5.3."""

from __future__ import annotations

from radius_server.protocol import mschap

USER = b"User"
PASSWORD = b"clientPass"
AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
CHALLENGE = bytes.fromhex("D02E4386BCE91226")
PASSWORD_HASH = bytes.fromhex("44EBBA8D5312B8D611474411F56989AE")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
PASSWORD_HASH_HASH = bytes.fromhex("41C00C584BD2D91C4017A2A12FA59F3F")
AUTHENTICATOR_RESPONSE = b"S=407A5589115FD0D6209F510FE9C04566932CDA56"
# RFC 3079 3.5.3
MASTER_KEY = bytes.fromhex("FDECE3717A8C838CB388E527AE3CDD31")
SEND_START_KEY_128 = bytes.fromhex("8B7CDC149B993A1BA118CB153F56DCCB")


def test_rfc2759_intermediate_values() -> None:
    assert mschap.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, USER) == CHALLENGE
    assert mschap.nt_password_hash(PASSWORD) == PASSWORD_HASH
    assert mschap.hash_nt_password_hash(PASSWORD_HASH) == PASSWORD_HASH_HASH
    assert mschap.challenge_response(CHALLENGE, PASSWORD_HASH) == NT_RESPONSE


def test_rfc2759_nt_response_and_authenticator_response() -> None:
    nt = mschap.generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD)
    assert nt == NT_RESPONSE
    assert mschap.verify_nt_response(nt, AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD)
    assert not mschap.verify_nt_response(nt, AUTH_CHALLENGE, PEER_CHALLENGE, USER, b"clientPasS")
    response = mschap.generate_authenticator_response(
        PASSWORD, NT_RESPONSE, PEER_CHALLENGE, AUTH_CHALLENGE, USER
    )
    assert response == AUTHENTICATOR_RESPONSE


def test_domain_prefix_is_not_hashed() -> None:
    with_domain = mschap.generate_nt_response(
        AUTH_CHALLENGE, PEER_CHALLENGE, b"ACME\\User", PASSWORD
    )
    assert with_domain == NT_RESPONSE


def test_rfc3079_master_and_start_keys() -> None:
    master = mschap.master_key(PASSWORD_HASH_HASH, NT_RESPONSE)
    assert master == MASTER_KEY
    # RFC 3079 3.5.3's SendStartKey128 is the server's send key (Magic3).
    server_send = mschap.asymmetric_start_key(master, 16, is_send=True, is_server=True)
    assert server_send == SEND_START_KEY_128
    client_recv = mschap.asymmetric_start_key(master, 16, is_send=False, is_server=False)
    assert client_recv == server_send
    send, recv = mschap.server_mppe_keys(PASSWORD, NT_RESPONSE)
    assert send == SEND_START_KEY_128
    assert recv == mschap.asymmetric_start_key(master, 16, is_send=True, is_server=False)
    assert send != recv


def test_ms_chap2_response_value_round_trip() -> None:
    value = mschap.ms_chap2_response_value(7, AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD)
    parsed = mschap.parse_ms_chap2_response(value)
    assert parsed is not None
    assert parsed.ident == 7
    assert parsed.peer_challenge == PEER_CHALLENGE
    assert parsed.nt_response == NT_RESPONSE
    assert mschap.parse_ms_chap2_response(value[:-1]) is None


def test_failure_message_has_no_secret() -> None:
    text = mschap.failure_message(3, bytes(16))
    assert text[0] == 3
    assert text[1:].startswith(b"E=691 R=0 C=" + b"0" * 32 + b" V=3 M=")


def test_pin_check_returns_the_proof_for_the_right_password_only() -> None:
    """The one MS-CHAPv2 verification: the right password yields the RFC 2759 proof and keys."""
    check = mschap.pin_check(AUTH_CHALLENGE, PEER_CHALLENGE, NT_RESPONSE, USER)
    assert check(b"clientPasS") is None
    proof = check(PASSWORD)
    assert proof is not None
    assert proof.authenticator_response == AUTHENTICATOR_RESPONSE
    assert (proof.send_key, proof.recv_key) == mschap.server_mppe_keys(PASSWORD, NT_RESPONSE)
    assert PASSWORD.hex() not in repr(proof) and AUTHENTICATOR_RESPONSE.decode() not in repr(proof)
