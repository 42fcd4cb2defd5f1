"""Shared packets for the protocol core tests: the RFC examples, byte for byte.

Imported by name (pytest puts this rootless test directory on sys.path); not a
conftest.py, since tests/conftest.py already owns that module name.
"""

from __future__ import annotations

from radius_server.protocol import encode_request


def hex_bytes(text: str) -> bytes:
    """Bytes from an RFC-style hex dump (whitespace ignored)."""
    return bytes.fromhex("".join(text.split()))


RFC_SECRET = b"xyzzy5461"

# RFC 2865 7.1: user "nemo", password "arctangent", NAS 192.168.1.16, port 3.
RFC2865_7_1_REQUEST = hex_bytes(
    """
    01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
    98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
    93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
    01 10 05 06 00 00 00 03
    """
)
# Its Access-Accept: Service-Type = Login-User, Login-Service = Telnet,
# Login-IP-Host = 192.168.1.3.
RFC2865_7_1_ACCEPT = hex_bytes(
    """
    02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
    9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
    0e 06 c0 a8 01 03
    """
)
# RFC 2865 7.2: user "flopsy" with CHAP (ident 0x16, challenge = Request Authenticator),
# NAS 192.168.1.16, port 20, Service-Type = Framed-User, Framed-Protocol = PPP.
# (The RFC does not give flopsy's password, and the Response Authenticator printed
# for its Access-Accept does not verify, so only the request is golden here.)
RFC2865_7_2_REQUEST = hex_bytes(
    """
    01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
    0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
    75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04
    06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
    02 07 06 00 00 00 01
    """
)
# RFC 5997 6.1: Status-Server with Message-Authenticator, and its Access-Accept.
RFC5997_STATUS_SERVER = hex_bytes(
    """
    0c da 00 26 8a 54 f4 68 6f b3 94 c5 28 66 e3 02
    18 5d 06 23 50 12 5a 66 5e 2e 1e 84 11 f3 e2 43
    82 20 97 c8 4f a3
    """
)
RFC5997_ACCEPT = hex_bytes("02 da 00 14 ef 0d 55 2a 4b f2 d6 93 ec 2b 6f e8 b5 41 1d 66")

SECRET = b"s3cret-shared"
PIN = b"48213"
FIXED_AUTHENTICATOR = bytes(range(16))


def pap_request(identifier: int = 7, authenticator: bytes = FIXED_AUTHENTICATOR) -> bytes:
    """A typical hotspot PAP Access-Request with Message-Authenticator."""
    return encode_request(
        SECRET,
        identifier=identifier,
        user_name="ada@example.org",
        password=PIN,
        authenticator=authenticator,
        attributes=[
            (4, bytes([10, 0, 0, 1])),
            (30, b"AA-BB-CC-DD-EE-FF:Cowork"),
            (31, b"11-22-33-44-55-66"),
            (32, b"ap-lobby"),
            (61, (19).to_bytes(4, "big")),
        ],
    ).packet
