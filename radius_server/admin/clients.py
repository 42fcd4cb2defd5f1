"""RADIUS clients (access points, controllers): every admin operation once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.clients import ClientRepository
from radius_server.store.records import ClientRecord


@dataclass(frozen=True, slots=True)
class NewClient:
    """What ``add`` needs; ``secret`` None generates a strong one."""

    name: str
    address: str
    secret: str | None = None
    require_message_authenticator: bool = True


@dataclass(frozen=True, slots=True)
class ClientResult:
    """A client after an operation, and warnings to show its caller (weak secret, no MA)."""

    record: ClientRecord
    warnings: tuple[str, ...] = ()


class ClientAdmin:
    """Client operations acting as ``actor``; each is one transaction with its audit row."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self.actor = actor

    def _repo(self) -> ClientRepository:
        # One per call: its warnings belong to that call alone.
        return ClientRepository(self._sessions, actor=self.actor)

    def add(self, new: NewClient) -> ClientResult:
        """Allow an access point or controller."""
        repo = self._repo()
        record = repo.add(
            new.name,
            new.address,
            new.secret,
            require_message_authenticator=new.require_message_authenticator,
        )
        return ClientResult(record, tuple(repo.warnings))

    def get(self, name: str) -> ClientRecord:
        """One client (NotFound names it)."""
        return self._repo().get(name)

    def find(self) -> list[ClientRecord]:
        """Every client."""
        return self._repo().find()

    def remove(self, name: str) -> ClientRecord:
        """Remove a client; its packets are dropped on every server."""
        return self._repo().remove(name)

    def set_secret(self, name: str, secret: str | None) -> ClientResult:
        """Change the shared secret; None generates a strong one."""
        repo = self._repo()
        record = repo.update(name, secret=secret, new_secret=secret is None)
        return ClientResult(record, tuple(repo.warnings))

    def update(
        self,
        name: str,
        *,
        address: str | None = None,
        require_message_authenticator: bool | None = None,
    ) -> ClientResult:
        """Change the address or the Message-Authenticator policy (None: unchanged)."""
        repo = self._repo()
        record = repo.update(
            name, address=address, require_message_authenticator=require_message_authenticator
        )
        return ClientResult(record, tuple(repo.warnings))
