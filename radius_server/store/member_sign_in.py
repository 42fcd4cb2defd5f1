"""Members signing in to their own page with a one-time link (issue 15, the members' page).

A link is issued only for an active member, in one transaction with its audit
row; redeeming it and opening the member's browser session are one transaction
too, so a link is either used *and* signed in, or neither (a disabled or
removed member's link is used up and signs nobody in). Tokens and session ids
are stored hashed (store/sign_in_links.py, store/web_sessions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.customers import normalize_email, to_record
from radius_server.store.errors import InvalidValue
from radius_server.store.journal import audit
from radius_server.store.models import Customer
from radius_server.store.records import CustomerRecord
from radius_server.store.sign_in_links import MEMBER_SIGN_IN, issue_in, redeem_in
from radius_server.store.web_sessions import MEMBER, SessionRecord, open_in


@dataclass(frozen=True, slots=True)
class MemberSignIn:
    """A member signed in by link: who, the new session, and the id for the cookie."""

    member: CustomerRecord
    session: SessionRecord
    session_id: str


def _active(session: Session, email: str) -> Customer | None:
    try:
        wanted = normalize_email(email)
    except InvalidValue:
        return None
    row = session.scalars(select(Customer).where(Customer.email == wanted)).first()
    return row if row is not None and row.active else None


class MemberSignInRepository:
    """Member links and sign-ins in one database, audited as ``actor``."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self.actor = actor

    def issue(self, email: str, lifetime: timedelta) -> tuple[CustomerRecord, str] | None:
        """A link for the active member ``email``: (member, token); None when there is none."""
        if len(email) > 254:
            return None
        with self._sessions() as session:
            row = _active(session, email)
            if row is None:
                return None
            token = issue_in(session, MEMBER_SIGN_IN, row.email, lifetime)
            audit(session, self.actor, "link.issue", row.email, purpose=MEMBER_SIGN_IN)
            session.commit()
            return to_record(row), token

    def sign_in(self, token: str, lifetime: timedelta) -> MemberSignIn | None:
        """Use the link once and open a member session; None: not usable, or member gone."""
        with self._sessions() as session:
            link = redeem_in(session, token, MEMBER_SIGN_IN)
            if link is None:
                return None
            row = _active(session, link.email)
            audit(session, self.actor, "link.use", link.email, purpose=MEMBER_SIGN_IN)
            if row is None:
                session.commit()  # used up all the same: a link is good once
                return None
            web, session_id = open_in(session, MEMBER, row.id, row.email, lifetime)
            audit(session, f"member:{row.email}", "member.sign_in", row.email)
            session.commit()
            return MemberSignIn(to_record(row), web, session_id)

    def member(self, web: SessionRecord) -> CustomerRecord | None:
        """The active member a member session belongs to (same id and email), else None."""
        with self._sessions() as session:
            row = session.get(Customer, web.subject_id)
            if row is None or not row.active or row.email != web.subject_email:
                return None
            return to_record(row)

    def signed_out(self, email: str) -> None:
        """Audit a member's sign-out (the session row is deleted by the session store)."""
        with self._sessions() as session:
            audit(session, f"member:{email}", "member.sign_out", email)
            session.commit()
