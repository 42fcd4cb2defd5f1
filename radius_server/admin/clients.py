"""RADIUS clients (access points, controllers): every admin operation once."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.clients import ClientRepository
from radius_server.store.records import ClientRecord


@dataclass(frozen=True, slots=True)
class NewClient:
    """What ``add`` needs; ``secret`` None generates a strong one.

    ``coa_port``: where the NAS takes Disconnect-Requests (RFC 5176), None for none;
    ``coa_secret``: their secret, None for the RADIUS secret.
    """

    name: str
    address: str
    secret: str | None = None
    require_message_authenticator: bool = True
    coa_port: int | None = None
    coa_secret: str | None = field(default=None, repr=False)
    # How plans reach it: vendor (rules.plans.VENDORS), location name, takes CoA-Requests.
    vendor: str = "generic"
    location: str | None = None
    coa: bool = False


@dataclass(frozen=True, slots=True)
class PlanSetup:
    """How plans reach a NAS; None leaves a value as it is.

    ``location``: a location's name, or "none" for no location.
    """

    vendor: str | None = None
    location: str | None = None
    coa: bool | None = None


# What ``location`` takes to mean "no location".
NO_LOCATION = "none"


def _no_location(location: str | None) -> bool:
    return location is not None and location.strip().lower() == NO_LOCATION


@dataclass(frozen=True, slots=True)
class CoaChange:
    """Dynamic authorization changes (RFC 5176); None and False leave a value as it is.

    ``clear_port`` turns Disconnect-Requests to this NAS off; ``clear_secret``
    signs them with the RADIUS secret again.
    """

    port: int | None = None
    clear_port: bool = False
    secret: str | None = field(default=None, repr=False)
    clear_secret: bool = False


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
            coa_port=new.coa_port,
            coa_secret=new.coa_secret,
            vendor=new.vendor,
            location=None if _no_location(new.location) else new.location,
            coa=new.coa,
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
        coa: CoaChange | None = None,
        plans: PlanSetup | None = None,
    ) -> ClientResult:
        """Change the address, the Message-Authenticator policy, dynamic authorization,
        or how plans reach the NAS (vendor, location, CoA).

        None (and an empty ``CoaChange``/``PlanSetup``) leaves a setting unchanged.
        """
        repo = self._repo()
        coa = coa or CoaChange()
        plans = plans or PlanSetup()
        no_location = _no_location(plans.location)
        record = repo.update(
            name,
            address=address,
            require_message_authenticator=require_message_authenticator,
            coa_port=coa.port,
            clear_coa_port=coa.clear_port,
            coa_secret=coa.secret,
            clear_coa_secret=coa.clear_secret,
            vendor=plans.vendor,
            location=None if no_location else plans.location,
            clear_location=no_location,
            coa=plans.coa,
        )
        return ClientResult(record, tuple(repo.warnings))
