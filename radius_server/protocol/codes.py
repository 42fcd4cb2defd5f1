"""RADIUS packet codes, attribute types and vendor numbers we use.

Attribute types are plain ``int`` constants rather than an enum: the decoder
compares them in its inner loop, and plain ints are the cheapest to compare.
Packet codes are an ``IntEnum`` because they appear in logs by name.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class Code(IntEnum):
    """Packet codes (RFC 2865 3, RFC 2866 3, RFC 5997, RFC 5176)."""

    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11
    STATUS_SERVER = 12
    STATUS_CLIENT = 13
    DISCONNECT_REQUEST = 40
    DISCONNECT_ACK = 41
    DISCONNECT_NAK = 42
    COA_REQUEST = 43
    COA_ACK = 44
    COA_NAK = 45


# Access-* replies carry a Message-Authenticator first (BlastRADIUS, CVE-2024-3596).
ACCESS_REPLY_CODES: Final = frozenset(
    {Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE}
)

# RFC 2865 3: header is Code(1) Identifier(1) Length(2) Authenticator(16).
HEADER_LENGTH: Final = 20
AUTHENTICATOR_LENGTH: Final = 16
# RFC 2865 3: "The maximum length is 4096."
MAX_PACKET_LENGTH: Final = 4096
# RFC 2865 5: one octet of Length covers Type and Length themselves.
MAX_ATTRIBUTE_VALUE_LENGTH: Final = 253

# --- Attribute types (RFC 2865 5, RFC 2866 5, RFC 2868, RFC 2869 5, RFC 3162) ---
USER_NAME: Final = 1
USER_PASSWORD: Final = 2
CHAP_PASSWORD: Final = 3
NAS_IP_ADDRESS: Final = 4
NAS_PORT: Final = 5
SERVICE_TYPE: Final = 6
FRAMED_IP_ADDRESS: Final = 8
FILTER_ID: Final = 11
FRAMED_MTU: Final = 12
REPLY_MESSAGE: Final = 18
STATE: Final = 24
CLASS: Final = 25
VENDOR_SPECIFIC: Final = 26
SESSION_TIMEOUT: Final = 27
IDLE_TIMEOUT: Final = 28
TERMINATION_ACTION: Final = 29
CALLED_STATION_ID: Final = 30
CALLING_STATION_ID: Final = 31
NAS_IDENTIFIER: Final = 32
PROXY_STATE: Final = 33
ACCT_STATUS_TYPE: Final = 40
ACCT_DELAY_TIME: Final = 41
ACCT_INPUT_OCTETS: Final = 42
ACCT_OUTPUT_OCTETS: Final = 43
ACCT_SESSION_ID: Final = 44
ACCT_SESSION_TIME: Final = 46
ACCT_TERMINATE_CAUSE: Final = 49
EVENT_TIMESTAMP: Final = 55
CHAP_CHALLENGE: Final = 60
NAS_PORT_TYPE: Final = 61
TUNNEL_TYPE: Final = 64
TUNNEL_MEDIUM_TYPE: Final = 65
TUNNEL_PASSWORD: Final = 69
CONNECT_INFO: Final = 77
EAP_MESSAGE: Final = 79
MESSAGE_AUTHENTICATOR: Final = 80
TUNNEL_PRIVATE_GROUP_ID: Final = 81
ACCT_INTERIM_INTERVAL: Final = 85
NAS_PORT_ID: Final = 87
NAS_IPV6_ADDRESS: Final = 95

# RFC 2866 5 and RFC 2869 5.1/5.2: accounting counters.
ACCT_INPUT_PACKETS: Final = 47
ACCT_OUTPUT_PACKETS: Final = 48
ACCT_MULTI_SESSION_ID: Final = 50
ACCT_INPUT_GIGAWORDS: Final = 52
ACCT_OUTPUT_GIGAWORDS: Final = 53
ERROR_CAUSE: Final = 101

# --- Vendors (IANA private enterprise numbers) ---
VENDOR_MICROSOFT: Final = 311
VENDOR_WISPR: Final = 14122
VENDOR_ARUBA: Final = 14823
VENDOR_MIKROTIK: Final = 14988

# --- Microsoft vendor types (RFC 2548 2) ---
MS_CHAP_RESPONSE: Final = 1
MS_CHAP_ERROR: Final = 2
MS_MPPE_ENCRYPTION_POLICY: Final = 7
MS_MPPE_ENCRYPTION_TYPES: Final = 8
MS_CHAP_CHALLENGE: Final = 11
MS_MPPE_SEND_KEY: Final = 16
MS_MPPE_RECV_KEY: Final = 17
MS_CHAP2_RESPONSE: Final = 25
MS_CHAP2_SUCCESS: Final = 26

# --- Values ---
ACCT_STATUS_START: Final = 1
ACCT_STATUS_STOP: Final = 2
ACCT_STATUS_INTERIM_UPDATE: Final = 3
ACCT_STATUS_ACCOUNTING_ON: Final = 7
ACCT_STATUS_ACCOUNTING_OFF: Final = 8
TUNNEL_TYPE_VLAN: Final = 13  # RFC 3580 3.31
TUNNEL_MEDIUM_TYPE_IEEE_802: Final = 6
