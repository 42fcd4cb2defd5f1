"""The engine's handling of odd requests: Status-Server, untrustworthy packets, unknown
clients, storage not loaded, malformed PINs, the log line, a failing method."""

from __future__ import annotations

import pytest

from radius_server.protocol import codes as c
from radius_server.protocol.client import encode_request, encode_status_server
from tests.unit.engine_harness import NAS_ADDRESS, SECRET, Harness


def _line(h: Harness) -> dict:
    return [e for e in h.log.events if e["event"] == "access"][-1]


def test_status_server_accepted() -> None:
    """RFC 5997: Access-Accept, reason status."""
    h = Harness()
    packet = encode_status_server(SECRET, identifier=1).packet
    reply = h.engine.handle_auth(packet, (NAS_ADDRESS, 1000))
    assert reply is not None and reply[0][0] == c.Code.ACCESS_ACCEPT
    assert _line(h)["reason"] == "status"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p[:2] + b"\xff\xff" + p[4:], "malformed"),
        (lambda p: bytes([c.Code.ACCESS_ACCEPT]) + p[1:], "unsupported_code"),
        (lambda p: p[:-1] + bytes([p[-1] ^ 1]), "bad_authenticator"),
    ],
)
def test_untrustworthy_requests_are_dropped(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Dropped, not rejected: the NAS retries or fails over."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    packet = encode_request(
        SECRET, identifier=1, user_name="ana@example.com", password=b"24680"
    ).packet
    assert h.engine.handle_auth(mutate(packet), (NAS_ADDRESS, 1000)) is None
    assert _line(h)["reason"] == reason and _line(h)["outcome"] == "drop"


def test_missing_message_authenticator_dropped() -> None:
    """BlastRADIUS default."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    packet = encode_request(
        SECRET,
        identifier=1,
        user_name="ana@example.com",
        password=b"24680",
        message_authenticator=False,
    ).packet
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 1000)) is None
    assert _line(h)["reason"] == "missing_message_authenticator"


def test_unknown_client_dropped_and_logged_once() -> None:
    """A flood from an unknown address costs one log line per interval."""
    h = Harness()
    packet = encode_request(
        SECRET, identifier=1, user_name="a@example.com", password=b"24680"
    ).packet
    for port in range(100):
        assert h.engine.handle_auth(packet, ("198.51.100.7", port)) is None
    assert len(h.log.named("unknown_client")) == 1


def test_storage_never_loaded_drops() -> None:
    """Before the first directory load, requests are dropped, not rejected."""
    h = Harness()
    h.directory.ready = False
    packet = encode_request(
        SECRET, identifier=1, user_name="a@example.com", password=b"24680"
    ).packet
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 1)) is None
    assert _line(h)["reason"] == "storage_unavailable"


def test_non_digit_password_is_bad_pin_format() -> None:
    """A password that is not 5 digits never matches and is not counted as a guess."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    code, line = h.send("ana@example.com", "2468O")
    assert code == c.Code.ACCESS_REJECT and line["reason"] == "bad_pin_format"
    assert "ana@example.com" not in h.guard.throttle.users


def test_log_line_never_holds_pin_or_secret() -> None:
    """The canonical line has the fields operators need and nothing secret."""
    h = Harness()
    h.add_member("ana@example.com", "24680")
    code, line = h.send(" ANA@example.com ", "24680", "AA-BB-CC-DD-EE-FF")
    assert code == c.Code.ACCESS_ACCEPT
    assert {
        "outcome",
        "reason",
        "method",
        "user",
        "client",
        "client_address",
        "calling_station",
        "duration_ms",
        "request_id",
    } <= line.keys()
    assert line["user"] == "ana@example.com"
    text = str(h.log.events)
    assert "24680" not in text and SECRET.decode() not in text


def test_a_failing_method_costs_one_request_not_the_server() -> None:
    """A handler that raises: the request is dropped with reason internal_error, no crash."""
    from radius_server.rules.methods import MethodResult

    class Broken:
        def handle(self, *_args: object) -> MethodResult:
            raise RuntimeError("boom")

    h = Harness()
    h.engine.methods["eap"] = Broken()  # type: ignore[assignment]
    from radius_server.protocol.client import encode_access_request

    packet = encode_access_request(
        SECRET,
        identifier=3,
        attributes=[(c.USER_NAME, b"a@example.com"), (c.EAP_MESSAGE, b"\x02\x01\x00\x06\x01a")],
    ).packet
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 7)) is None
    line = _line(h)
    assert line["reason"] == "internal_error" and line["detail"] == "RuntimeError"
    # The retransmission is decided again rather than silently dropped.
    assert h.engine.handle_auth(packet, (NAS_ADDRESS, 7)) is None
    assert len(h.log.named("access")) == 2


def test_status_server_on_the_accounting_port() -> None:
    """RFC 5997 allows Status-Server on either port; the reply verifies."""
    from radius_server.protocol.client import verify_reply

    h = Harness()
    request = encode_status_server(SECRET, identifier=4)
    reply = h.engine.handle_acct(request.packet, (NAS_ADDRESS, 1001))
    assert reply is not None
    assert verify_reply(
        reply[0],
        request.authenticator,
        SECRET,
        request_code=c.Code.STATUS_SERVER,
        require_message_authenticator=False,
    )


def test_pap_is_a_registered_method_whose_check_proof_comes_back_on_accept() -> None:
    """One method contract: PAP is chosen from the registry like any method, and a
    handler's PIN check returns a proof that ``verify`` hands back only with an accept."""
    from radius_server.rules import policy
    from radius_server.rules.methods import MethodResult

    proofs: list[object] = []

    class Pap:
        def handle(self, request, client, verify, now) -> MethodResult:  # type: ignore[no-untyped-def]
            offered = policy.pap_check(b"24680")  # what a right PIN would be

            def check(pin: bytes) -> str | None:
                return "proof" if offered(pin) is not None else None

            decision, proof = verify(request.user_name, check)
            proofs.append(proof)
            return MethodResult(decision, method="custom-pap")

    h = Harness()
    assert set(h.engine.methods) >= {"pap", "chap"}
    h.engine.methods["pap"] = Pap()
    h.add_member("ana@example.com", "24680")
    code, line = h.send("ana@example.com", "11111")
    assert (code, line["method"]) == (c.Code.ACCESS_ACCEPT, "custom-pap")
    h.add_member("bo@example.com", "13579")
    code, _ = h.send("bo@example.com", "11111")
    assert code == c.Code.ACCESS_REJECT
    assert proofs == ["proof", None]
