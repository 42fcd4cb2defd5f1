"""The members' page: sign-in links by email, member sessions, what a member may see.

A member gets a one-time link (15 minutes, single use, stored hashed:
store/sign_in_links.py) by email; opening it and pressing "Sign in" opens a
member session (kind ``member`` in ``web_sessions``). The email carries the link
only, never the PIN: the PIN is shown on the page behind it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from radius_server.config import ConfigError, Settings
from radius_server.eap.apple_profile import ProfileFor, profile_bytes
from radius_server.eap.trust import EapTrust, eap_trust
from radius_server.mail.links import link_address, send_link_message
from radius_server.mail.message import mailbox
from radius_server.mail.sender import Delivery, SmtpConfig
from radius_server.mail.template import Rendered
from radius_server.store.member_sign_in import MemberSignIn, MemberSignInRepository
from radius_server.store.records import CustomerRecord
from radius_server.store.sign_in_links import MEMBER_SIGN_IN, SignInLinkRepository
from radius_server.store.web_sessions import SessionRecord

# Issue 15: a member's sign-in link works once, for 15 minutes.
MEMBER_LINK_LIFETIME = timedelta(minutes=15)
MEMBER_LINK_PATH = "/me/link"


def member_link(public_url: str, token: str) -> str:
    """The address of the sign-in page for ``token``."""
    return link_address(public_url, MEMBER_LINK_PATH, token)


def link_message(space_name: str, url: str) -> Rendered:
    """The sign-in email: a short built-in text with the link and no PIN."""
    text = (
        f"Hello,\n\nSomeone (we hope you) asked to sign in to the {space_name} members' page.\n"
        f"Open this link to sign in (it works once, for 15 minutes):\n\n{url}\n\n"
        "If you did not ask, ignore this message: nothing happens without the link.\n"
    )
    return Rendered(subject=f"Your {space_name} sign-in link", text=text, html=None)


class PortalAdmin:
    """Member sign-in and the member's own view, acting as ``actor``."""

    def __init__(self, sessions: sessionmaker[Session], actor: str, settings: Settings) -> None:
        self._repo = MemberSignInRepository(sessions, actor)
        self._links = SignInLinkRepository(sessions, actor)
        self.settings = settings

    def ssid(self) -> str:
        """The Wi-Fi network members join (``wifi_ssid``; empty: ``space_name``)."""
        # An SSID is at most 32 octets (IEEE 802.11); wifi_ssid is checked at load.
        fallback = self.settings.space_name.encode()[:32].decode(errors="ignore")
        return self.settings.wifi_ssid or fallback

    def check_sending(self) -> SmtpConfig:
        """The SMTP settings and ``web_public_url`` links need (ConfigError names what is missing).

        Checked before a request is looked at, so every email gets the same answer.
        """
        if not self.settings.web_public_url:
            raise ConfigError(
                "setting web_public_url: required to email links (RADIUS_WEB_PUBLIC_URL)"
            )
        return SmtpConfig.from_settings(self.settings)

    def send_link(self, email: str) -> Delivery | None:
        """Email a sign-in link to the active member ``email``; None when there is no such member.

        The caller answers the same either way (nobody learns which emails exist).
        """
        config = self.check_sending()
        issued = self._repo.issue(email, MEMBER_LINK_LIFETIME)
        if issued is None:
            return None
        member, token = issued
        url = member_link(self.settings.web_public_url, token)
        rendered = link_message(self.settings.space_name, url)
        return send_link_message(config, rendered, mailbox(member.email, member.full_name))

    def link_usable(self, token: str) -> bool:
        """Whether ``token`` is an unused, unexpired member link (it is not used by asking)."""
        return self._links.peek(token, MEMBER_SIGN_IN) is not None

    def sign_in(self, token: str, lifetime: timedelta) -> MemberSignIn | None:
        """Use a link once and open a member session; None when the link is not usable."""
        return self._repo.sign_in(token, lifetime)

    def member(self, web: SessionRecord) -> CustomerRecord | None:
        """The active member behind a member session, else None."""
        return self._repo.member(web)

    def signed_out(self, email: str) -> None:
        """Audit a member's sign-out."""
        self._repo.signed_out(email)

    def trust(self) -> EapTrust | None:
        """The CA certificate and server names of this server's EAP (None: EAP not set up)."""
        cert_file, _key, chain_file = self.settings.tls_files()
        return eap_trust(cert_file, chain_file)

    def apple_profile(self, email: str) -> bytes | None:
        """The member's ``.mobileconfig`` (None when EAP has no certificate yet)."""
        trust = self.trust()
        if trust is None:
            return None
        return profile_bytes(ProfileFor(email, self.ssid(), self.settings.space_name, trust))
