"""One-time links: a staff member's password set-up, a member's sign-in.

The token travels in an email and a URL; only its SHA-256 is stored (32 random
bytes: a fast hash is enough, as for API tokens). A link is redeemed by one
conditional UPDATE (unused, unexpired, right purpose), so two requests racing
with the same link cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.journal import audit, utcnow
from radius_server.store.models import SignInLink
from radius_server.store.records import as_utc

# Purposes: a link made for one is refused for the other.
STAFF_PASSWORD = "staff-password"  # noqa: S105 (a purpose, not a password)
MEMBER_SIGN_IN = "member-sign-in"
PURPOSES = (STAFF_PASSWORD, MEMBER_SIGN_IN)
# Longer tokens are refused before hashing (nobody's link is that long).
_MAX_TOKEN = 200
# Used and expired links are kept this long (the audit trail has the rest), then purged.
_KEEP = timedelta(days=7)


def hash_link_token(token: str) -> str:
    """The stored form of a link's token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """A link as the program sees it: never the token."""

    id: int
    purpose: str
    email: str
    created_at: datetime | None
    expires_at: datetime | None
    used_at: datetime | None

    def usable(self, now: datetime) -> bool:
        """Unused and unexpired at ``now``."""
        return self.used_at is None and self.expires_at is not None and now < self.expires_at


def _record(row: SignInLink) -> LinkRecord:
    return LinkRecord(
        id=row.id,
        purpose=row.purpose,
        email=row.email,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        used_at=as_utc(row.used_at),
    )


def issue_in(session: Session, purpose: str, email: str, lifetime: timedelta) -> str:
    """Add a link in the caller's transaction; return its token (shown once, in the email)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        SignInLink(
            token_hash=hash_link_token(token),
            purpose=purpose,
            email=email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def redeem_in(session: Session, token: str, purpose: str) -> LinkRecord | None:
    """Mark the link used in the caller's transaction; its record, or None if not usable.

    None for an unknown, used, expired or other-purpose link alike: the caller
    tells the person one thing ("this link is not valid any more").
    """
    if not token or len(token) > _MAX_TOKEN:
        return None
    digest = hash_link_token(token)
    now = utcnow()
    done = session.execute(
        update(SignInLink)
        .where(
            SignInLink.token_hash == digest,
            SignInLink.purpose == purpose,
            SignInLink.used_at.is_(None),
            SignInLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = session.scalar(select(SignInLink).where(SignInLink.token_hash == digest))
    return _record(row) if row is not None else None


class SignInLinkRepository:
    """Links in one database; issuing one is audited as ``actor``."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self.actor = actor

    def issue(self, purpose: str, email: str, lifetime: timedelta) -> str:
        """A new link for ``email``; returns the token (only its hash is stored)."""
        with self._sessions() as session:
            token = issue_in(session, purpose, email, lifetime)
            audit(session, self.actor, "link.issue", email, purpose=purpose)
            session.commit()
            return token

    def peek(self, token: str, purpose: str) -> LinkRecord | None:
        """The usable link ``token`` names, without using it (a form shown before its post)."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        with self._sessions() as session:
            row = session.scalar(
                select(SignInLink).where(
                    SignInLink.token_hash == hash_link_token(token), SignInLink.purpose == purpose
                )
            )
            if row is None:
                return None
            record = _record(row)
            return record if record.usable(utcnow()) else None

    def redeem(self, token: str, purpose: str) -> LinkRecord | None:
        """Use the link once: its record, or None (unknown, used, expired, other purpose)."""
        with self._sessions() as session:
            record = redeem_in(session, token, purpose)
            if record is not None:
                audit(session, self.actor, "link.use", record.email, purpose=purpose)
            session.commit()
            return record

    def purge(self) -> int:
        """Delete links used or expired more than a week ago; how many went."""
        cutoff = utcnow() - _KEEP
        with self._sessions() as session:
            done = session.execute(delete(SignInLink).where(SignInLink.expires_at < cutoff))
            session.commit()
            return int(done.rowcount or 0)  # type: ignore[attr-defined]
