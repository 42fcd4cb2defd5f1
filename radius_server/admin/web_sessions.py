"""Browser sessions of the web pages: looked up on each request, ended on sign-out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from radius_server.store.sign_in_links import SignInLinkRepository
from radius_server.store.web_sessions import SessionRecord, WebSessionRepository


class WebSessionAdmin:
    """Finding and ending sessions (audited by the sign-in and sign-out operations)."""

    def __init__(self, sessions: sessionmaker[Session], idle: timedelta) -> None:
        self._repo = WebSessionRepository(sessions)
        self._links = SignInLinkRepository(sessions, "web")
        self.idle = idle

    def find(self, session_id: str) -> SessionRecord | None:
        """The live session the cookie ``session_id`` names, else None."""
        return self._repo.find(session_id, self.idle)

    def close(self, session_id: str) -> SessionRecord | None:
        """End the session ``session_id`` names (sign-out); its record, or None."""
        return self._repo.close(session_id)

    def purge(self) -> int:
        """Delete ended sessions and links expired a week ago; how many sessions went."""
        self._links.purge()
        return self._repo.purge(self.idle)
