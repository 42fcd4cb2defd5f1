"""Staff accounts of the web pages (``radius-server staff``) and their sign-in.

Passwords are hashed with Argon2id (argon2-cffi's defaults, the RFC 9106
low-memory profile): a slow, memory-hard hash, because a password, unlike a
token, is guessable. A sign-in for an unknown email, a disabled account or one
without a password verifies against a dummy hash, so it takes as long as a
wrong password and gets the same answer (no way to learn which emails exist).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.config import ConfigError, Settings
from radius_server.mail.links import link_address, send_link_message
from radius_server.mail.message import mailbox
from radius_server.mail.sender import Delivery, SmtpConfig
from radius_server.mail.template import Rendered
from radius_server.rules.passwords import MAX_PASSWORD, PasswordRefused, check_password
from radius_server.rules.roles import Role
from radius_server.rules.validation import MAX_EMAIL
from radius_server.store.errors import InvalidValue
from radius_server.store.sign_in_links import STAFF_PASSWORD, SignInLinkRepository
from radius_server.store.staff import LINK_NOT_VALID, LinkNotValid, StaffRecord, StaffRepository
from radius_server.store.web_sessions import SessionRecord

# A staff password link works this long (issue 15: a day).
PASSWORD_LINK_LIFETIME = timedelta(hours=24)
SET_PASSWORD_PATH = "/staff/set-password"  # noqa: S105 (a path)


class PasswordRejected(InvalidValue):
    """The password breaks a rule (the message never quotes it)."""

    field = "password"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Made once per process, with the same parameters as real hashes.
    return _hasher().hash("not a password anyone has: timing equaliser")


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (PHC string: parameters and salt included)."""
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; a missing hash costs the same time."""
    try:
        ok = _hasher().verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


@dataclass(frozen=True, slots=True)
class SignIn:
    """A successful sign-in: the account, its new session and the id for the cookie.

    ``repr`` hides the id: it signs a browser in.
    """

    staff: StaffRecord
    session: SessionRecord
    session_id: str = field(repr=False)


def password_link(public_url: str, token: str) -> str:
    """The address of the password page for ``token``."""
    return link_address(public_url, SET_PASSWORD_PATH, token)


def _link_message(space_name: str, url: str) -> Rendered:
    text = (
        f"Hello,\n\nYou have a staff account on the {space_name} Wi-Fi pages.\n"
        f"Choose your password here (the link works once, for 24 hours):\n\n{url}\n\n"
        "If you did not expect this message, ignore it.\n"
    )
    return Rendered(subject=f"Set your {space_name} staff password", text=text, html=None)


class StaffAdmin:
    """Staff operations acting as ``actor``; each one transaction with its audit rows."""

    def __init__(self, sessions: sessionmaker[Session], actor: str, settings: Settings) -> None:
        self._repo = StaffRepository(sessions, actor)
        self._links = SignInLinkRepository(sessions, actor)
        self.settings = settings

    def _checked(self, password: str, email: str) -> str:
        try:
            return hash_password(check_password(password, email.strip().lower()))
        except PasswordRefused as exc:
            raise PasswordRejected(str(exc)) from None

    def add(
        self, email: str, role: Role, password: str | None = None, *, with_link: bool = False
    ) -> tuple[StaffRecord, str | None]:
        """A new account, with a password, or a one-time link's token, or neither yet."""
        password_hash = self._checked(password, email) if password is not None else None
        lifetime = PASSWORD_LINK_LIFETIME if with_link else None
        return self._repo.add(email, role, password_hash, lifetime)

    def list(self) -> list[StaffRecord]:
        """Every account, by email."""
        return self._repo.list()

    def get(self, email: str) -> StaffRecord:
        """One account (NotFound)."""
        return self._repo.get(email)

    def get_by_id(self, staff_id: int) -> StaffRecord | None:
        """One account by id, or None."""
        return self._repo.get_by_id(staff_id)

    def remove(self, email: str) -> StaffRecord:
        """Delete an account; its sessions end."""
        return self._repo.remove(email)

    def set_password(self, email: str, password: str) -> StaffRecord:
        """A new password (the rules apply); the account's sessions end."""
        record = self._repo.get(email)
        return self._repo.set_password(record.email, self._checked(password, record.email))

    def set_disabled(self, email: str, disabled: bool) -> StaffRecord:
        """Disable (sessions end) or enable an account."""
        return self._repo.set_disabled(email, disabled)

    def password_link(self, email: str) -> tuple[StaffRecord, str]:
        """A new one-time password link's token for an account (24 hours)."""
        return self._repo.password_link(email, PASSWORD_LINK_LIFETIME)

    def link_url(self, token: str) -> str:
        """The full address of a password link (setting ``web_public_url``)."""
        if not self.settings.web_public_url:
            raise ConfigError(
                "setting web_public_url: required to email links (RADIUS_WEB_PUBLIC_URL), "
                "say https://wifi.example.com"
            )
        return password_link(self.settings.web_public_url, token)

    def send_link(self, record: StaffRecord, token: str) -> Delivery:
        """Email a password link to its account (ConfigError: SMTP or web_public_url)."""
        url = self.link_url(token)
        config = SmtpConfig.from_settings(self.settings)
        rendered = _link_message(self.settings.space_name, url)
        return send_link_message(config, rendered, mailbox(record.email))

    def link_email(self, token: str) -> str | None:
        """The email a usable password link is for, without using it; None if not usable."""
        link = self._links.peek(token, STAFF_PASSWORD)
        return link.email if link is not None else None

    def set_password_by_link(self, token: str, password: str) -> StaffRecord:
        """Use a password link once (LinkNotValid) and set the password (PasswordRejected).

        The password is checked before the link is used, so a refused password
        leaves the link usable for a second try.
        """
        email = self.link_email(token)
        if email is None:
            raise LinkNotValid(LINK_NOT_VALID)
        password_hash = self._checked(password, email)
        return self._repo.set_password_by_link(token, password_hash)

    def sign_in(self, email: str, password: str, lifetime: timedelta) -> SignIn | None:
        """A new session if ``email`` and ``password`` match an enabled account, else None."""
        found = self._repo.credentials(email) if len(email) <= MAX_EMAIL else None
        record, stored = found if found is not None else (None, None)
        if len(password) > MAX_PASSWORD:
            # No stored password is that long: refused, after the same work as any other.
            record, stored, password = None, None, password[:MAX_PASSWORD]
        ok = verify_password(stored, password)
        if not ok or record is None or record.disabled_at is not None:
            return None
        assert stored is not None
        new_hash = hash_password(password) if _hasher().check_needs_rehash(stored) else None
        staff, session, session_id = self._repo.signed_in(record.id, new_hash, lifetime)
        return SignIn(staff, session, session_id)

    def signed_out(self, email: str) -> None:
        """Audit a sign-out."""
        self._repo.signed_out(email)
