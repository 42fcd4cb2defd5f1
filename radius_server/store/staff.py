"""Staff accounts of the web pages: email, role, Argon2 hash, disabled or not.

Hashing and verifying passwords is the admin layer's (admin/staff.py); this
module stores what it is given. Every change is audited with the target
``staff:EMAIL`` (so a member's history never shows a staff account with the same
address), and every change that takes access away ends the account's sessions in
the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.roles import Role
from radius_server.rules.validation import quote
from radius_server.store.customers import normalize_email
from radius_server.store.errors import AlreadyExists, InvalidValue, NotFound
from radius_server.store.journal import audit, utcnow
from radius_server.store.models import StaffUser
from radius_server.store.records import as_utc, iso
from radius_server.store.sign_in_links import STAFF_PASSWORD, issue_in, redeem_in
from radius_server.store.web_sessions import STAFF, SessionRecord, close_all_in, open_in

LINK_NOT_VALID = "this link is not valid any more: ask an admin for a new one"


class LinkNotValid(InvalidValue):
    """A one-time link is unknown, used, expired or for something else."""

    field = "token"


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A staff account as listed: never the hash."""

    id: int
    email: str
    role: Role
    has_password: bool
    created_at: datetime | None
    created_by: str
    disabled_at: datetime | None
    last_sign_in_at: datetime | None

    @property
    def state(self) -> str:
        """``disabled``, ``no password`` (cannot sign in yet) or ``active``."""
        if self.disabled_at is not None:
            return "disabled"
        return "active" if self.has_password else "no password"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready mapping."""
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role.label,
            "state": self.state,
            "has_password": self.has_password,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "disabled_at": iso(self.disabled_at),
            "last_sign_in_at": iso(self.last_sign_in_at),
        }


def _record(row: StaffUser) -> StaffRecord:
    return StaffRecord(
        id=row.id,
        email=row.email,
        role=Role.parse(row.role),
        has_password=row.password_hash is not None,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        disabled_at=as_utc(row.disabled_at),
        last_sign_in_at=as_utc(row.last_sign_in_at),
    )


def staff_target(email: str) -> str:
    """How a staff account is named in the audit trail."""
    return f"staff:{email}"


class StaffRepository:
    """Staff accounts in one database; every change audited as ``actor``."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self.actor = actor

    @staticmethod
    def _row(session: Session, email: str) -> StaffUser:
        clean = email.strip().lower()
        row = session.scalar(select(StaffUser).where(StaffUser.email == clean))
        if row is None:
            raise NotFound(f"no staff account {quote(clean)}")
        return row

    def add(
        self,
        email: str,
        role: Role,
        password_hash: str | None = None,
        link_lifetime: timedelta | None = None,
    ) -> tuple[StaffRecord, str | None]:
        """A new account; with ``link_lifetime``, also a password link (its token returned)."""
        clean = normalize_email(email)
        row = StaffUser(
            email=clean,
            role=role.label,
            password_hash=password_hash,
            created_at=utcnow(),
            created_by=self.actor,
        )
        with self._sessions() as session:
            session.add(row)
            audit(
                session,
                self.actor,
                "staff.add",
                staff_target(clean),
                role=role.label,
                password=password_hash is not None,
            )
            token = None
            if link_lifetime is not None:
                token = issue_in(session, STAFF_PASSWORD, clean, link_lifetime)
                audit(
                    session, self.actor, "link.issue", staff_target(clean), purpose=STAFF_PASSWORD
                )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise AlreadyExists(f"a staff account {quote(clean)} exists") from None
            return _record(row), token

    def list(self) -> list[StaffRecord]:
        """Every account, by email."""
        with self._sessions() as session:
            return [
                _record(r) for r in session.scalars(select(StaffUser).order_by(StaffUser.email))
            ]

    def get(self, email: str) -> StaffRecord:
        """One account by email (NotFound)."""
        with self._sessions() as session:
            return _record(self._row(session, email))

    def get_by_id(self, staff_id: int) -> StaffRecord | None:
        """One account by id, or None."""
        with self._sessions() as session:
            row = session.get(StaffUser, staff_id)
            return _record(row) if row is not None else None

    def credentials(self, email: str) -> tuple[StaffRecord, str | None] | None:
        """The account and its password hash, for verifying a sign-in; None if unknown."""
        clean = email.strip().lower()
        with self._sessions() as session:
            row = session.scalar(select(StaffUser).where(StaffUser.email == clean))
            return (_record(row), row.password_hash) if row is not None else None

    def remove(self, email: str) -> StaffRecord:
        """Delete an account and end its sessions."""
        with self._sessions() as session:
            row = self._row(session, email)
            record = _record(row)
            ended = close_all_in(session, STAFF, row.id)
            session.delete(row)
            audit(session, self.actor, "staff.remove", staff_target(row.email), sessions=ended)
            session.commit()
            return record

    def set_password(self, email: str, password_hash: str) -> StaffRecord:
        """Store a new hash and end the account's sessions (signed in elsewhere: out)."""
        with self._sessions() as session:
            row = self._row(session, email)
            return self._store_password(session, row, password_hash, via="command")

    def set_password_by_link(self, token: str, password_hash: str) -> StaffRecord:
        """Use a password link once and store the hash with it, in one transaction."""
        with self._sessions() as session:
            link = redeem_in(session, token, STAFF_PASSWORD)
            if link is None:
                raise LinkNotValid(LINK_NOT_VALID)
            row = session.scalar(select(StaffUser).where(StaffUser.email == link.email))
            if row is None or row.disabled_at is not None:
                raise LinkNotValid(LINK_NOT_VALID)
            return self._store_password(session, row, password_hash, via="link")

    def _store_password(
        self, session: Session, row: StaffUser, password_hash: str, via: str
    ) -> StaffRecord:
        row.password_hash = password_hash
        ended = close_all_in(session, STAFF, row.id)
        audit(
            session,
            self.actor,
            "staff.set_password",
            staff_target(row.email),
            via=via,
            sessions=ended,
        )
        session.commit()
        return _record(row)

    def password_link(self, email: str, lifetime: timedelta) -> tuple[StaffRecord, str]:
        """A one-time password link for an existing, enabled account: record and token."""
        with self._sessions() as session:
            row = self._row(session, email)
            if row.disabled_at is not None:
                raise InvalidValue(f"the staff account {quote(row.email)} is disabled")
            token = issue_in(session, STAFF_PASSWORD, row.email, lifetime)
            audit(
                session, self.actor, "link.issue", staff_target(row.email), purpose=STAFF_PASSWORD
            )
            session.commit()
            return _record(row), token

    def set_disabled(self, email: str, disabled: bool) -> StaffRecord:
        """Disable (ending its sessions) or enable an account; the same state again: no change."""
        with self._sessions() as session:
            row = self._row(session, email)
            if disabled and row.disabled_at is None:
                row.disabled_at = utcnow()
                ended = close_all_in(session, STAFF, row.id)
                audit(session, self.actor, "staff.disable", staff_target(row.email), sessions=ended)
                session.commit()
            elif not disabled and row.disabled_at is not None:
                row.disabled_at = None
                audit(session, self.actor, "staff.enable", staff_target(row.email))
                session.commit()
            return _record(row)

    def signed_in(
        self, staff_id: int, new_hash: str | None, lifetime: timedelta
    ) -> tuple[StaffRecord, SessionRecord, str]:
        """Record a successful sign-in: a new session (and a rehash when due), audited."""
        with self._sessions() as session:
            row = session.get(StaffUser, staff_id)
            if row is None or row.disabled_at is not None:
                raise NotFound("no such staff account")
            row.last_sign_in_at = utcnow()
            if new_hash is not None:
                row.password_hash = new_hash
            web, session_id = open_in(session, STAFF, row.id, row.email, lifetime)
            audit(session, self.actor, "staff.sign_in", staff_target(row.email))
            session.commit()
            return _record(row), web, session_id

    def signed_out(self, email: str) -> None:
        """Audit a sign-out (the session itself is deleted by the session store)."""
        with self._sessions() as session:
            audit(session, self.actor, "staff.sign_out", staff_target(email))
            session.commit()
