"""A member's Apple configuration profile (``.mobileconfig``): the Wi-Fi and the CA, one tap.

Payloads (Apple's Device Management reference, "WiFi" and "CertificateRoot"):

- ``com.apple.security.root``: the CA certificate (DER) the EAP server's
  certificate chains to, when there is one to hand out (eap/trust.py);
- ``com.apple.wifi.managed``: the SSID, ``EncryptionType`` WPA2 (from iOS 16 /
  macOS 13 this joins WPA2 and WPA3 networks), and the EAP client settings:
  PEAP (25) and TTLS (21) with MS-CHAPv2 inside, the member's email as
  ``UserName``, an anonymous outer identity (the email travels only inside the
  tunnel: docs/wpa-enterprise.md), the certificate anchored to the CA payload
  (``PayloadCertificateAnchorUUID``) and the server's names
  (``TLSTrustedServerNames``), so the device never asks "trust this
  certificate?" and would refuse a look-alike server.

No ``UserPassword``: the PIN also opens doors and printers, and a profile is a
plain-text file that lingers in Downloads folders, mail attachments and
backups. The device asks for the PIN once, when it first joins, and keeps it in
its keychain. The profile is unsigned (the device shows "Unverified"): signing
would need a code-signing certificate the space does not have; it is served
only over the member's signed-in session.

Identifiers and UUIDs are derived from the member's email and the network
(UUID v5), so downloading the profile again replaces the installed one instead
of adding a second.
"""

from __future__ import annotations

import plistlib
import re
import uuid
from dataclasses import dataclass

from radius_server.eap.trust import EapTrust

CONTENT_TYPE = "application/x-apple-aspen-config"
# RFC 3748 / IANA EAP method types.
EAP_PEAP = 25
EAP_TTLS = 21
_NAMESPACE = uuid.UUID("0f4b6f2e-4d0a-5a55-9a39-7a3c2e5d9b11")


@dataclass(frozen=True, slots=True)
class ProfileFor:
    """Who and what the profile is for."""

    email: str
    ssid: str
    space_name: str
    trust: EapTrust


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts))).upper()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "wifi"


def profile_identifier(ssid: str) -> str:
    """The profile's reverse-DNS identifier (one per network: a new download replaces it)."""
    return f"org.radius-server.wifi.{_slug(ssid)}"


def build_profile(target: ProfileFor) -> dict[str, object]:
    """The profile as a plist dictionary."""
    base = profile_identifier(target.ssid)
    key = (target.email.lower(), target.ssid)
    payloads: list[dict[str, object]] = []
    eap: dict[str, object] = {
        "AcceptEAPTypes": [EAP_PEAP, EAP_TTLS],
        "UserName": target.email,
        "OuterIdentity": "anonymous",
        "TTLSInnerAuthentication": "MSCHAPv2",
    }
    if target.trust.server_names:
        eap["TLSTrustedServerNames"] = list(target.trust.server_names)
    if target.trust.anchor is not None:
        ca_uuid = _uuid("ca", *key, target.trust.anchor_sha256)
        payloads.append(
            {
                "PayloadType": "com.apple.security.root",
                "PayloadVersion": 1,
                "PayloadIdentifier": f"{base}.ca",
                "PayloadUUID": ca_uuid,
                "PayloadDisplayName": target.trust.anchor_name or "Wi-Fi CA",
                "PayloadCertificateFileName": "wifi-ca.cer",
                "PayloadContent": target.trust.anchor_der(),
            }
        )
        eap["PayloadCertificateAnchorUUID"] = [ca_uuid]
    payloads.append(
        {
            "PayloadType": "com.apple.wifi.managed",
            "PayloadVersion": 1,
            "PayloadIdentifier": f"{base}.network",
            "PayloadUUID": _uuid("wifi", *key),
            "PayloadDisplayName": f"Wi-Fi {target.ssid}",
            "SSID_STR": target.ssid,
            "HIDDEN_NETWORK": False,
            "AutoJoin": True,
            "IsHotspot": False,
            "EncryptionType": "WPA2",
            "EAPClientConfiguration": eap,
        }
    )
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": base,
        "PayloadUUID": _uuid("profile", *key),
        "PayloadDisplayName": f"{target.space_name} Wi-Fi",
        "PayloadDescription": (
            f"Joins {target.ssid} as {target.email}. Your device asks for your PIN once."
        ),
        "PayloadOrganization": target.space_name,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": payloads,
    }


def profile_bytes(target: ProfileFor) -> bytes:
    """The ``.mobileconfig`` file: an XML plist (unsigned)."""
    return plistlib.dumps(build_profile(target), fmt=plistlib.FMT_XML, sort_keys=True)


def profile_filename(ssid: str) -> str:
    """A download name for the profile (ASCII, safe in Content-Disposition)."""
    return f"{_slug(ssid)}.mobileconfig"
