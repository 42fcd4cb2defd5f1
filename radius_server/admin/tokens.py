"""API tokens (``radius-server token``): create, list, revoke, and check one on a request."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.roles import Role
from radius_server.rules.validity import window_end
from radius_server.store.tokens import TokenRecord, TokenRepository


class TokenAdmin:
    """Token operations acting as ``actor``; each is one transaction with its audit row."""

    def __init__(self, sessions: sessionmaker[Session], actor: str, zone: tzinfo) -> None:
        self._repo = TokenRepository(sessions, actor)
        self.zone = zone

    def create(
        self, name: str, role: Role, expires: date | datetime | None = None
    ) -> tuple[TokenRecord, str]:
        """A new token and its value (shown once); a date expires at the end of that day."""
        expires_at = window_end(expires, self.zone) if expires is not None else None
        return self._repo.create(name, role, expires_at)

    def list(self) -> list[TokenRecord]:
        """Every token, by name (revoked and expired ones too)."""
        return self._repo.list()

    def revoke(self, name: str) -> TokenRecord:
        """Revoke the token named ``name`` (NotFound if none)."""
        return self._repo.revoke(name)

    def authenticate(self, token: str) -> TokenRecord | None:
        """The usable token matching ``token``, or None."""
        return self._repo.authenticate(token)
