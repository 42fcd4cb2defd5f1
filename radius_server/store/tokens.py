"""API tokens: created (shown once), listed, revoked, and checked on each request.

Only the token's SHA-256 is stored; see models.ApiToken for why a fast hash is right.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.roles import Role
from radius_server.rules.validation import check_nas_name, quote
from radius_server.store.errors import AlreadyExists, InvalidValue, NotFound
from radius_server.store.journal import audit, utcnow
from radius_server.store.models import ApiToken
from radius_server.store.records import as_utc, iso

# "rsk_" marks our tokens (secret scanners can be taught the pattern); 32 bytes follow.
TOKEN_MARK = "rsk_"  # noqa: S105 (a marker, not a secret)
_PREFIX_LENGTH = len(TOKEN_MARK) + 6
# last_used_at is written at most this often per token (seconds): not a write per request.
_TOUCH_INTERVAL = 60.0


def hash_token(token: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    """A fresh token: the mark and 43 URL-safe characters (256 bits)."""
    return TOKEN_MARK + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as listed: never the token itself."""

    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime | None
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def usable(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def to_dict(self) -> dict[str, object]:
        """JSON-ready mapping."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.label,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


def _record(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        role=Role.parse(row.role),
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at),
        last_used_at=as_utc(row.last_used_at),
    )


def check_token_name(name: str) -> str:
    """A token's name: like a NAS name (1-64 printable characters)."""
    value = name.strip()
    if not value or len(value) > 64 or not value.isprintable():
        raise InvalidValue("a token name must be 1-64 printable characters")
    return check_nas_name(value)


class TokenRepository:
    """Tokens in one database; every change is audited as ``actor``."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self.actor = actor

    def create(
        self, name: str, role: Role, expires_at: datetime | None = None
    ) -> tuple[TokenRecord, str]:
        """A new token: its record and the token, which is never shown again."""
        clean = check_token_name(name)
        now = utcnow()
        if expires_at is not None and expires_at <= now:
            raise InvalidValue("the expiry date is in the past")
        token = new_token()
        row = ApiToken(
            name=clean,
            role=role.label,
            token_hash=hash_token(token),
            prefix=token[:_PREFIX_LENGTH],
            created_at=now,
            created_by=self.actor,
            expires_at=expires_at,
        )
        with self._sessions() as session:
            session.add(row)
            audit(session, self.actor, "token.create", clean, role=role.label)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise AlreadyExists(f"a token named {quote(clean)} exists") from None
            return _record(row), token

    def list(self) -> list[TokenRecord]:
        """Every token, revoked and expired ones included, by name."""
        with self._sessions() as session:
            return [_record(r) for r in session.scalars(select(ApiToken).order_by(ApiToken.name))]

    def revoke(self, name: str) -> TokenRecord:
        """Revoke a token by name: it stops working at the next request."""
        clean = name.strip()
        with self._sessions() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.name == clean))
            if row is None:
                raise NotFound(f"no token named {quote(clean)}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                audit(session, self.actor, "token.revoke", clean)
                session.commit()
            return _record(row)

    def authenticate(self, token: str) -> TokenRecord | None:
        """The usable token whose hash matches ``token``, else None (revoked, expired, unknown).

        Marks it used (at most once a minute, so reads do not each cost a write).
        """
        if not token.startswith(TOKEN_MARK) or len(token) > 200:
            return None
        digest = hash_token(token)
        now = utcnow()
        with self._sessions() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
            if row is None:
                return None
            record = _record(row)
            if not record.usable(now):
                return None
            last = record.last_used_at
            if last is None or (now - last).total_seconds() >= _TOUCH_INTERVAL:
                session.execute(
                    update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
                )
                session.commit()
            return record
