"""RADIUS client (NAS) repository: access points and controllers allowed to talk to us."""

from __future__ import annotations

import ipaddress
import secrets
import string

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.plans import VENDORS
from radius_server.rules.validation import check_nas_name, quote
from radius_server.store import plan_members
from radius_server.store.access_plans import locations_by_name
from radius_server.store.errors import AlreadyExists, InvalidValue, NotFound, checked
from radius_server.store.journal import CLIENT, audit, record_change, utcnow
from radius_server.store.models import RadiusClient
from radius_server.store.records import ClientRecord, as_utc

# RFC 2865 3 recommends at least 16 octets; shorter secrets fall to offline guessing.
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 128


def parse_network(address: str) -> str:
    """Normalise an IP address or CIDR network to CIDR text, or raise InvalidValue."""
    text = address.strip()
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidValue(f"not an IP address or CIDR network: {quote(text)}") from None
    raise InvalidValue(f"{text} has host bits set; did you mean {loose}?")


# Letters and digits only: the secret is typed into access points' web pages and
# passed to tools such as radtest, where a leading "-" reads as an option and some
# equipment refuses punctuation.
_SECRET_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 33  # 33 x log2(62) = 196 bits


def generate_secret() -> str:
    """A strong shared secret: 33 letters and digits (196 bits)."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(_SECRET_LENGTH))


def check_secret(secret: str, what: str = "the shared secret") -> list[str]:
    """Validate a shared secret; return warnings (too short) or raise InvalidValue."""
    if not secret or secret != secret.strip():
        raise InvalidValue(f"{what} must not be empty or start/end with spaces")
    if len(secret) > MAX_SECRET_LENGTH:
        raise InvalidValue(f"{what} must be at most {MAX_SECRET_LENGTH} characters")
    if not secret.isprintable():
        raise InvalidValue(f"{what} must be printable characters")
    if len(secret) < MIN_SECRET_LENGTH:
        return [
            f"{what} is shorter than {MIN_SECRET_LENGTH} characters: "
            "an eavesdropper can guess it offline; prefer a generated one"
        ]
    return []


_COA_LABEL = "the dynamic authorization secret"


def check_coa_port(port: int) -> int:
    """A NAS's RFC 5176 port (3799 by IANA, 1700 on some equipment): 1-65535."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidValue("the dynamic authorization port must be 1-65535")
    return port


def check_vendor(vendor: str) -> str:
    """One of rules.plans.VENDORS (any case), else InvalidValue listing them."""
    value = vendor.strip().lower()
    if value not in VENDORS:
        raise InvalidValue(f"vendor must be one of {', '.join(VENDORS)}: {quote(vendor.strip())}")
    return value


_COA_WITHOUT_DAS = (
    "CoA is on but the NAS has no dynamic authorization port: plan changes "
    "cannot reach it; give --coa-port too"
)


def to_record(row: RadiusClient) -> ClientRecord:
    """ORM row to plain value."""
    return ClientRecord(
        id=row.id,
        name=row.name,
        address=row.address,
        secret=row.secret,
        require_message_authenticator=row.require_message_authenticator,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        coa_port=row.coa_port,
        coa_secret=row.coa_secret,
        vendor=row.vendor,
        location_id=row.location_id,
        coa=row.coa,
    )


class ClientRepository:
    """RADIUS client operations on top of a session factory."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = "system") -> None:
        self._sessions = sessions
        self.actor = actor
        self.warnings: list[str] = []

    def _load(self, session: Session, name: str) -> RadiusClient:
        row = session.scalars(select(RadiusClient).where(RadiusClient.name == name.strip())).first()
        if row is None:
            raise NotFound(f"no RADIUS client named {quote(name.strip())}")
        return row

    def _conflict(self, session: Session, name: str, network: str) -> None:
        if session.scalar(select(RadiusClient.id).where(RadiusClient.name == name)):
            raise AlreadyExists(f"a RADIUS client named {name!r} already exists")
        other = session.scalars(select(RadiusClient).where(RadiusClient.address == network)).first()
        if other is not None:
            raise AlreadyExists(f"{network} is already the address of client {other.name!r}")

    def add(
        self,
        name: str,
        address: str,
        secret: str | None = None,
        *,
        require_message_authenticator: bool = True,
        coa_port: int | None = None,
        coa_secret: str | None = None,
        vendor: str = "generic",
        location: str | None = None,
        coa: bool = False,
    ) -> ClientRecord:
        """Register a client; a strong secret is generated when none is given.

        ``coa_port``: where the NAS takes Disconnect-Requests (RFC 5176), None for
        none; ``coa_secret``: their secret, None for the RADIUS secret.
        ``vendor`` (rules.plans.VENDORS), ``location`` (a name, None for none) and
        ``coa`` (takes CoA-Requests) decide how plans reach it.
        """
        self.warnings = []
        label = checked(check_nas_name, name)
        vendor = check_vendor(vendor)
        if coa and coa_port is None:
            self.warnings.append(_COA_WITHOUT_DAS)
        network = parse_network(address)
        if secret is None:
            secret = generate_secret()
        else:
            self.warnings.extend(check_secret(secret))
        if coa_port is not None:
            check_coa_port(coa_port)
        if coa_secret is not None:
            self.warnings.extend(check_secret(coa_secret, _COA_LABEL))
            if coa_port is None:
                self.warnings.append(_COA_WITHOUT_PORT)
        if not require_message_authenticator:
            self.warnings.append(_MA_WARNING)
        with self._sessions() as session:
            self._conflict(session, label, network)
            where = locations_by_name(session, (location,))[0] if location is not None else None
            now = utcnow()
            row = RadiusClient(
                vendor=vendor,
                location_id=where.id if where is not None else None,
                coa=coa,
                name=label,
                address=network,
                secret=secret,
                require_message_authenticator=require_message_authenticator,
                coa_port=coa_port,
                coa_secret=coa_secret,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                raise AlreadyExists(f"client {label!r} or address {network} exists") from None
            record_change(session, CLIENT, row.id)
            audit(
                session,
                self.actor,
                "nas.add",
                label,
                address=network,
                require_message_authenticator=require_message_authenticator,
                coa_port=coa_port,
                coa_secret=coa_secret is not None,
                vendor=vendor,
                location=where.name if where is not None else None,
                coa=coa,
            )
            session.commit()
            return to_record(row)

    def get(self, name: str) -> ClientRecord:
        """One client by name."""
        with self._sessions() as session:
            return to_record(self._load(session, name))

    def find(self) -> list[ClientRecord]:
        """All clients ordered by name."""
        with self._sessions() as session:
            rows = session.scalars(select(RadiusClient).order_by(RadiusClient.name))
            return [to_record(row) for row in rows]

    def update(
        self,
        name: str,
        *,
        secret: str | None = None,
        new_secret: bool = False,
        address: str | None = None,
        require_message_authenticator: bool | None = None,
        coa_port: int | None = None,
        clear_coa_port: bool = False,
        coa_secret: str | None = None,
        clear_coa_secret: bool = False,
        vendor: str | None = None,
        location: str | None = None,
        clear_location: bool = False,
        coa: bool | None = None,
    ) -> ClientRecord:
        """Re-key (given or generated secret), move, or change the BlastRADIUS setting.

        ``coa_port``/``coa_secret`` set the RFC 5176 port and secret;
        ``clear_coa_port`` turns dynamic authorization off, ``clear_coa_secret``
        goes back to the RADIUS secret (None and False: unchanged).
        ``vendor``, ``location`` (a name; ``clear_location``: none) and ``coa``:
        members online here whose Accept that changes get plan_changed jobs.
        """
        self.warnings = []
        if location is not None and clear_location:
            raise InvalidValue("give a location or none, not both")
        vendor = check_vendor(vendor) if vendor is not None else None
        if secret is not None:
            self.warnings.extend(check_secret(secret))
        elif new_secret:
            secret = generate_secret()
        if coa_port is not None and clear_coa_port:
            raise InvalidValue("give a dynamic authorization port or turn it off, not both")
        if coa_secret is not None and clear_coa_secret:
            raise InvalidValue("give a dynamic authorization secret or use the RADIUS one")
        if coa_port is not None:
            check_coa_port(coa_port)
        if coa_secret is not None:
            self.warnings.extend(check_secret(coa_secret, _COA_LABEL))
        network = parse_network(address) if address is not None else None
        if require_message_authenticator is False:
            self.warnings.append(_MA_WARNING)
        with self._sessions() as session:
            row = self._load(session, name)
            changed: list[str] = []
            if secret is not None and secret != row.secret:
                row.secret = secret
                changed.append("secret")
            if network is not None and network != row.address:
                other = session.scalars(
                    select(RadiusClient).where(RadiusClient.address == network)
                ).first()
                if other is not None:
                    raise AlreadyExists(f"{network} is already the address of {other.name!r}")
                row.address = network
                changed.append("address")
            if (
                require_message_authenticator is not None
                and require_message_authenticator != row.require_message_authenticator
            ):
                row.require_message_authenticator = require_message_authenticator
                changed.append("require_message_authenticator")
            wanted_port = None if clear_coa_port else (coa_port or row.coa_port)
            if wanted_port != row.coa_port:
                row.coa_port = wanted_port
                changed.append("coa_port")
            wanted_secret = None if clear_coa_secret else (coa_secret or row.coa_secret)
            if wanted_secret != row.coa_secret:
                row.coa_secret = wanted_secret
                changed.append("coa_secret")
            if wanted_secret is not None and wanted_port is None and "coa_secret" in changed:
                self.warnings.append(_COA_WITHOUT_PORT)
            changed += self._apply_plan_fields(session, row, vendor, location, clear_location, coa)
            if changed:
                row.updated_at = utcnow()
                session.flush()
                record_change(session, CLIENT, row.id)
                online = plan_members.moved_nas(
                    session, row.name, vendor="vendor" in changed, location="location" in changed
                )
                jobs = plan_members.enqueue_all(session, online, self.actor)
                details = {"plan_changed_jobs": jobs} if jobs else {}
                audit(session, self.actor, "nas.update", row.name, fields=changed, **details)
                session.commit()
            return to_record(row)

    def _apply_plan_fields(
        self,
        session: Session,
        row: RadiusClient,
        vendor: str | None,
        location: str | None,
        clear_location: bool,
        coa: bool | None,
    ) -> list[str]:
        """Set vendor, location and the CoA flag; the fields that changed."""
        changed = []
        if vendor is not None and vendor != row.vendor:
            row.vendor = vendor
            changed.append("vendor")
        if location is not None or clear_location:
            where = None if clear_location else locations_by_name(session, (location or "",))[0]
            wanted = where.id if where is not None else None
            if wanted != row.location_id:
                row.location_id = wanted
                changed.append("location")
        if coa is not None and coa != row.coa:
            row.coa = coa
            changed.append("coa")
        if row.coa and row.coa_port is None and "coa" in changed:
            self.warnings.append(_COA_WITHOUT_DAS)
        return changed

    def remove(self, name: str) -> ClientRecord:
        """Delete a client; its packets are dropped from then on."""
        with self._sessions() as session:
            row = self._load(session, name)
            record = to_record(row)
            session.delete(row)
            record_change(session, CLIENT, record.id)
            audit(session, self.actor, "nas.remove", record.name)
            session.commit()
            return record


_COA_WITHOUT_PORT = "a dynamic authorization secret without a port is not used: give --coa-port too"

_MA_WARNING = (
    "Message-Authenticator is not required for this client: it is open to BlastRADIUS "
    "(CVE-2024-3596) forgery; only do this for equipment that cannot send it"
)
