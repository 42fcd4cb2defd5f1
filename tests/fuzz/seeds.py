"""Write the checked-in seed corpus: real packets and conversations for every fuzz target.

    .venv/bin/python -m tests.fuzz.seeds      # rewrites tests/fuzz/corpus/<target>/

Seeds are what the fuzzer starts mutating from: the RFC examples, our own test
client's packets signed with the fuzz world's secret, phase-2 messages with
correct proofs for the pinned challenges, and a real ClientHello. Named
reproducers (``regression-*``, below) and the inputs a long run found that add
coverage (``cov-*``, merged with libFuzzer's ``-merge=1``, see bench/README.md)
sit next to them; only ``seed-*`` files are rewritten.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterable
from pathlib import Path

from OpenSSL import SSL

from radius_server.eap import avp as avps
from radius_server.eap.codec import EapCode, EapType, encode_eap
from radius_server.eap.framing import FLAG_LENGTH, FLAG_MORE, FLAG_START, encode_frame
from radius_server.eap.peap import result_tlv
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.attributes import eap_message_attributes
from radius_server.protocol.client import (
    encode_access_request,
    encode_accounting_request,
    encode_request,
    encode_status_server,
)
from tests.fuzz import targets
from tests.fuzz.targets import (
    FIXED_CHALLENGE,
    FIXED_MS_ID,
    FIXED_TTLS_IMPLICIT,
    NO_MESSAGE_AUTHENTICATOR,
    NO_USER_NAME,
    STATUS_SERVER,
    join_chunks,
)
from tests.fuzz.world import EMAIL, PIN, SECRET
from tests.unit.protocol.protocol_samples import (
    RFC2865_7_1_REQUEST,
    RFC2865_7_2_REQUEST,
    RFC5997_STATUS_SERVER,
    pap_request,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
AUTHENTICATOR = bytes(range(32, 48))
PEER_CHALLENGE = bytes(range(200, 216))


def _signed_packets() -> list[bytes]:
    """Requests from our client, signed with the fuzz world's secret: they get real answers."""
    station = [(c.CALLING_STATION_ID, b"02-00-00-00-00-01"), (c.NAS_IDENTIFIER, b"ap-lobby")]
    packets = [
        encode_request(
            SECRET,
            identifier=1,
            user_name=EMAIL,
            password=pin,
            method=method,  # type: ignore[arg-type]
            attributes=station,
            authenticator=AUTHENTICATOR,
            chap_id=9,
        ).packet
        for method in ("pap", "chap")
        for pin in (PIN, b"11111")
    ]
    ms = mschap.mschapv2_request_attributes(EMAIL, PIN, FIXED_CHALLENGE, PEER_CHALLENGE, 3)
    identity = encode_eap(EapCode.RESPONSE, 1, EapType.IDENTITY, b"anonymous")
    for attrs in (
        ms,
        [(c.USER_NAME, b"anonymous"), *eap_message_attributes(identity)],
        [(c.USER_NAME, b"anonymous"), (c.EAP_MESSAGE, b"")],
        [(c.USER_NAME, EMAIL.encode()), (c.PROXY_STATE, b"proxy-1"), *station],
    ):
        packets.append(
            encode_access_request(
                SECRET, identifier=2, attributes=attrs, authenticator=AUTHENTICATOR
            ).packet
        )
    packets.append(encode_status_server(SECRET, identifier=3, authenticator=AUTHENTICATOR).packet)
    return packets


def _accounting() -> bytes:
    return encode_accounting_request(
        SECRET,
        identifier=4,
        attributes=[
            (c.ACCT_STATUS_TYPE, struct.pack("!I", 1)),
            (c.ACCT_SESSION_ID, b"s-1"),
            (c.USER_NAME, EMAIL.encode()),
        ],
    ).packet


def _tlv(attrs: Iterable[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes((t, len(v))) + v for t, v in attrs)


def accounting_seeds() -> list[bytes]:
    """Start, Interim and Stop with counters, Accounting-On, raw datagrams, broken ones."""
    counters = _tlv(
        [
            (c.USER_NAME, EMAIL.encode()),
            (c.NAS_IP_ADDRESS, bytes((192, 0, 2, 1))),
            (c.NAS_PORT, struct.pack("!I", 7)),
            (c.CALLING_STATION_ID, b"02-00-00-00-00-01"),
            (c.ACCT_SESSION_TIME, struct.pack("!I", 60)),
            (c.ACCT_INPUT_OCTETS, struct.pack("!I", 1000)),
            (c.ACCT_INPUT_GIGAWORDS, struct.pack("!I", 1)),
            (c.ACCT_OUTPUT_OCTETS, struct.pack("!I", 2000)),
            (c.ACCT_TERMINATE_CAUSE, struct.pack("!I", 4)),
            (c.ACCT_DELAY_TIME, struct.pack("!I", 5)),
            (c.EVENT_TIMESTAMP, struct.pack("!I", 1_799_999_990)),
            (c.FRAMED_IP_ADDRESS, bytes((10, 0, 0, 9))),
            (c.CLASS, b"rs1:1:00ff"),
        ]
    )
    both = targets.ACCT_STATUS | targets.ACCT_SESSION | targets.ACCT_KEPT
    seeds = [bytes((both, status)) + counters for status in (1, 2, 3)]
    seeds.append(bytes((both & ~targets.ACCT_KEPT, 3)) + counters)
    seeds.append(bytes((targets.ACCT_STATUS | targets.ACCT_KEPT, 7)))  # Accounting-On
    seeds.append(bytes((targets.ACCT_STATUS | targets.ACCT_KEPT, 1)))  # no Acct-Session-Id
    seeds.append(
        bytes((both | targets.ACCT_MEMBER, 2)) + counters + _tlv([(c.ACCT_SESSION_TIME, b"\x01")])
    )
    seeds.append(bytes((targets.ACCT_RAW, 0)) + _accounting())
    return seeds


def radius_decode_seeds() -> list[bytes]:
    """The RFC examples and our client's packets."""
    return [
        RFC2865_7_1_REQUEST,
        RFC2865_7_2_REQUEST,
        RFC5997_STATUS_SERVER,
        pap_request(),
        _accounting(),
        *_signed_packets(),
    ]


def engine_seeds() -> list[bytes]:
    """Raw signed datagrams (modes 0, 1) and structured requests of every kind (modes 2, 3)."""
    seeds = [b"\x00" + packet for packet in _signed_packets()]
    seeds.append(b"\x01" + _accounting())
    extra = _tlv([(c.CALLING_STATION_ID, b"02-00-00-00-00-01"), (c.NAS_PORT, bytes(4))])
    identity = encode_eap(EapCode.RESPONSE, 1, EapType.IDENTITY, b"anonymous")
    for kind in range(8):
        for flags in (0, NO_MESSAGE_AUTHENTICATOR, 0x10, 0x30):
            attrs = extra + (_tlv([(c.EAP_MESSAGE, identity)]) if kind == targets.EAP else b"")
            seeds.append(bytes((2, kind, flags)) + AUTHENTICATOR + b"48213" + attrs)
    seeds.append(bytes((3, targets.PAP_GUESS, 0)) + AUTHENTICATOR + b"11111" + extra)
    seeds.append(bytes((2, targets.BARE, STATUS_SERVER)) + AUTHENTICATOR + b"00000")
    seeds.append(
        bytes((2, targets.BARE, NO_USER_NAME))
        + AUTHENTICATOR
        + b"00000"
        + _tlv([(c.USER_NAME, EMAIL.encode()), (c.STATE, b"\x01" * 16)])
    )
    # A burst (mode 3) of EAP starts from ever new stations, and of wrong PINs from one.
    eap_start = _tlv([(c.EAP_MESSAGE, identity)])
    seeds.append(bytes((3, targets.EAP, targets.STATION)) + AUTHENTICATOR + b"00000" + eap_start)
    seeds.append(bytes((3, targets.PAP_GUESS, targets.STATION)) + AUTHENTICATOR + b"12121")
    proxy = _tlv([(c.PROXY_STATE, bytes(200))] * 4)
    seeds.append(bytes((2, targets.PAP_GUESS, 0)) + AUTHENTICATOR + b"99999" + proxy)
    return seeds


def eap_session_seeds() -> list[bytes]:
    """Every method and TLS version, clean, and each kind of tampering."""
    seeds = [bytes((case, right, 0)) for case in range(16) for right in (0, 1)]
    payloads = {
        targets.INNER_PLAINTEXT: b"\x01" + EMAIL.encode(),
        targets.OUTER_REPLACE: encode_eap(EapCode.RESPONSE, 9, EapType.NAK, b"\x19"),
        targets.OUTER_XOR: b"\x00\x01\x00\x00\x00\x80",
        targets.STATE_REPLACE: bytes(16),
        targets.REPLAY: b"",
    }
    for kind, payload in payloads.items():
        for case in (0, 1, 3, 4):
            seeds.append(bytes((case, 1 | kind << 1, 1 if kind == targets.INNER_PLAINTEXT else 4)))
            seeds[-1] += payload
    return seeds


def eap_framing_seeds() -> list[bytes]:
    """EAP packets and TLS-over-EAP frames, whole and fragmented."""
    return [
        encode_eap(EapCode.RESPONSE, 1, EapType.IDENTITY, b"anonymous"),
        encode_eap(EapCode.RESPONSE, 2, EapType.NAK, b"\x15\x19"),
        encode_eap(EapCode.RESPONSE, 3, EapType.PEAP, encode_frame(0, b"\x16\x03\x01" * 20)),
        encode_eap(EapCode.SUCCESS, 4),
        join_chunks(
            [
                encode_frame(FLAG_MORE, b"a" * 30, 60),
                encode_frame(0, b"b" * 30),
                encode_frame(FLAG_START),
                bytes((FLAG_LENGTH,)),
            ]
        ),
    ]


def tls_records_seeds() -> list[bytes]:
    """A real ClientHello (TLS 1.2 and 1.3), whole and split in two."""
    seeds = []
    for version in (SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION):
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_max_proto_version(version)
        conn = SSL.Connection(ctx, None)
        conn.set_connect_state()
        with contextlib.suppress(SSL.WantReadError):
            conn.do_handshake()
        hello = conn.bio_read(65536)
        seeds += [join_chunks([hello]), join_chunks([hello[:40], hello[40:]])]
    return seeds


def _eap_mschapv2_response(name: bytes) -> bytes:
    """EAP-MSCHAPv2 Response type-data proving PIN for the pinned challenge."""
    nt = mschap.generate_nt_response(FIXED_CHALLENGE, PEER_CHALLENGE, name, PIN)
    body = bytes((49,)) + PEER_CHALLENGE + bytes(8) + nt + b"\x00" + name
    return bytes((2, FIXED_MS_ID)) + (4 + len(body)).to_bytes(2, "big") + body


def ttls_avp_seeds() -> list[bytes]:
    """Inner PAP, MS-CHAPv2 (implicit challenge) and EAP-MSCHAPv2, each to the end."""
    name = EMAIL.encode()
    pap = avps.encode_avp(c.USER_NAME, name) + avps.encode_avp(c.USER_PASSWORD, PIN + bytes(11))
    challenge, ident = FIXED_TTLS_IMPLICIT[:16], FIXED_TTLS_IMPLICIT[16]
    value = mschap.ms_chap2_response_value(ident, challenge, PEER_CHALLENGE, name, PIN)
    chap = (
        avps.encode_avp(c.USER_NAME, name)
        + avps.encode_avp(c.MS_CHAP_CHALLENGE, challenge, vendor=c.VENDOR_MICROSOFT)
        + avps.encode_avp(c.MS_CHAP2_RESPONSE, value, vendor=c.VENDOR_MICROSOFT)
    )

    def inner(type_: int, data: bytes) -> bytes:
        # Identifier 0xFF: the target swaps in the server's (random) inner Identifier.
        return avps.encode_avp(c.EAP_MESSAGE, encode_eap(EapCode.RESPONSE, 0xFF, type_, data))

    eap = [
        avps.encode_avp(c.EAP_MESSAGE, encode_eap(EapCode.RESPONSE, 0, EapType.IDENTITY, name)),
        inner(EapType.MSCHAPV2, _eap_mschapv2_response(name)),
        inner(EapType.MSCHAPV2, b"\x03"),
    ]
    return [join_chunks([pap]), join_chunks([b"", chap, b""]), join_chunks(eap)]


def peap_phase2_seeds() -> list[bytes]:
    """Identity, EAP-MSCHAPv2 response and ack, then the echoed Result TLV."""
    name = EMAIL.encode()
    tlv = encode_eap(EapCode.RESPONSE, 1, EapType.TLV, result_tlv(1))
    steps = [
        b"",
        bytes((EapType.IDENTITY,)) + name,
        bytes((EapType.MSCHAPV2,)) + _eap_mschapv2_response(name),
        bytes((EapType.MSCHAPV2, 3)),
        tlv,
    ]
    return [join_chunks(steps), join_chunks([*steps[1:3], bytes((EapType.NAK, 26))])]


def mschapv2_seeds() -> list[bytes]:
    """A right response and its Success ack; a wrong one; an MS-CHAP2-Response value."""
    name = EMAIL.encode()
    right = _eap_mschapv2_response(name)
    wrong = right[:30] + bytes(24) + right[54:]
    value = mschap.ms_chap2_response_value(1, FIXED_CHALLENGE, PEER_CHALLENGE, name, PIN)
    return [join_chunks([right, b"\x03"]), join_chunks([wrong]), value]


def dynauth_reply_seeds() -> list[bytes]:
    """Signed ACK/NAK answers to the target's request, raw and structured."""
    nak_attrs = [(c.ERROR_CAUSE, (503).to_bytes(4, "big")), (c.EVENT_TIMESTAMP, bytes(4))]
    raw_ack = targets.sign_dynauth_reply(c.Code.DISCONNECT_ACK, [], True)
    raw_nak = targets.sign_dynauth_reply(c.Code.DISCONNECT_NAK, nak_attrs, True)
    both = targets.DYNAUTH_SIGNED | targets.DYNAUTH_WITH_MA
    return [
        b"\x00" + raw_ack,
        b"\x00" + raw_nak,
        bytes((both, c.Code.DISCONNECT_NAK)) + _tlv(nak_attrs),
        bytes((targets.DYNAUTH_SIGNED, c.Code.DISCONNECT_ACK)),
        bytes((both, c.Code.COA_ACK)),
    ]


SEEDS = {
    "radius_decode": radius_decode_seeds,
    "engine": engine_seeds,
    "eap_session": eap_session_seeds,
    "eap_framing": eap_framing_seeds,
    "tls_records": tls_records_seeds,
    "ttls_avp": ttls_avp_seeds,
    "peap_phase2": peap_phase2_seeds,
    "mschapv2": mschapv2_seeds,
    "accounting": accounting_seeds,
    "dynauth_reply": dynauth_reply_seeds,
}


# Reproducers kept by name: bugs found by fuzzing or reported (issue 10), now fixed.
REGRESSIONS = {
    "engine": {
        # A reply that would exceed 4096 octets with the request's Proxy-States:
        # once an internal_error, now a reject without Reply-Message or reply_too_large.
        "issue10-proxy-state-overflow": bytes((2, targets.PAP_GUESS, targets.FILL))
        + bytes(16)
        + b"11111"
        + bytes((c.PROXY_STATE, 1, 0)),
        # An empty User-Name: once dropped as malformed, now a signed reject (no_user_name).
        "issue10-empty-user-name": bytes((2, targets.PAP_RIGHT, NO_USER_NAME))
        + bytes(16)
        + bytes((c.USER_NAME, 0)),
    },
}


# A real ClientHello is random: keep the checked-in one rather than churn the corpus.
WRITTEN_ONCE = {"tls_records"}


def main() -> None:
    """Rewrite the generated seeds (``seed-*``) and the named reproducers (``regression-*``)."""
    for name, build in SEEDS.items():
        directory = CORPUS / name
        directory.mkdir(parents=True, exist_ok=True)
        if name in WRITTEN_ONCE and any(directory.glob("seed-*")):
            continue
        for old in directory.glob("seed-*"):
            old.unlink()
        for data in build():
            (directory / f"seed-{targets.digest(data)}").write_bytes(data)
        for label, data in REGRESSIONS.get(name, {}).items():
            (directory / f"regression-{label}").write_bytes(data)
        print(f"{name}: {len(list(directory.iterdir()))} files")


if __name__ == "__main__":
    main()
