"""The admin service layer: every admin operation once, for every caller.

The command line is one caller; an HTTP API and web pages will be others. Each
operation takes typed inputs, returns typed results, prints nothing, and acts
as an *actor* recorded in the audit trail. Errors an admin can cause are
``StoreError``/``PinError`` (and ``ConfigError``, ``TemplateError``) with a
one-line message that names no PIN or secret. See docs/architecture.md,
"Where a change goes".
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from radius_server.admin.clients import ClientAdmin
from radius_server.admin.customers import CustomerAdmin
from radius_server.admin.decisions import DecisionAdmin
from radius_server.admin.disconnects import DisconnectAdmin
from radius_server.admin.guessing import GuessingAdmin
from radius_server.admin.plans import LocationAdmin, PlanAdmin
from radius_server.admin.portal import PortalAdmin
from radius_server.admin.reminders import ReminderAdmin
from radius_server.admin.schema import open_sessions
from radius_server.admin.sessions import SessionAdmin
from radius_server.admin.staff import StaffAdmin
from radius_server.admin.templates import TemplateAdmin
from radius_server.admin.tokens import TokenAdmin
from radius_server.admin.web_sessions import WebSessionAdmin
from radius_server.config import Settings
from radius_server.rules.validation import MAX_ACTOR, clean_label
from radius_server.runtime.guard import throttle_settings
from radius_server.store import database


class Admin:
    """The admin operations, grouped, acting as ``actor`` on one database."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        actor: str,
        *,
        engine: Engine | None = None,
    ) -> None:
        """``engine``: one this Admin owns and ``close`` disposes (see :meth:`open`)."""
        self.settings = settings
        self.sessions = sessions
        # Storable whoever the caller is (a web user name may hold anything).
        self.actor = clean_label(actor, MAX_ACTOR)
        self._engine = engine

    @classmethod
    def open(cls, settings: Settings, actor: str) -> Admin:
        """An Admin on the configured database (schema checked); ``close`` when done."""
        engine = database.make_engine(
            settings.database_url_resolved(), timeout=settings.database_timeout
        )
        try:
            return cls(settings, open_sessions(engine), actor, engine=engine)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        """Release the database connections of an Admin made by :meth:`open`."""
        if self._engine is not None:
            self._engine.dispose()

    @cached_property
    def customers(self) -> CustomerAdmin:
        """Customers, PINs, CSV import/export, the audit trail."""
        return CustomerAdmin(self.sessions, self.actor, self.settings.zone())

    @cached_property
    def clients(self) -> ClientAdmin:
        """RADIUS clients (NAS)."""
        return ClientAdmin(self.sessions, self.actor)

    @cached_property
    def plans(self) -> PlanAdmin:
        """Access plans (VLAN, bandwidth, hours, locations, reply attributes)."""
        return PlanAdmin(self.sessions, self.actor)

    @cached_property
    def locations(self) -> LocationAdmin:
        """Locations of the space; new ones in the space's time zone unless told."""
        return LocationAdmin(self.sessions, self.actor, self.settings.timezone)

    @cached_property
    def disconnects(self) -> DisconnectAdmin:
        """Disconnecting members' sessions by hand (RFC 5176)."""
        return DisconnectAdmin(self.sessions, self.actor)

    @cached_property
    def guessing(self) -> GuessingAdmin:
        """Lockouts and known devices."""
        return GuessingAdmin(self.sessions, self.actor, throttle_settings(self.settings))

    @cached_property
    def templates(self) -> TemplateAdmin:
        """The PIN reminder template."""
        return TemplateAdmin(self.sessions, self.actor, self.settings)

    @cached_property
    def reminders(self) -> ReminderAdmin:
        """PIN reminders by email."""
        return ReminderAdmin(self.sessions, self.actor, self.settings)

    @cached_property
    def tokens(self) -> TokenAdmin:
        """Bearer tokens of the HTTP API."""
        return TokenAdmin(self.sessions, self.actor, self.settings.zone())

    @cached_property
    def staff(self) -> StaffAdmin:
        """Staff accounts of the web pages, their passwords and sign-in."""
        return StaffAdmin(self.sessions, self.actor, self.settings)

    @cached_property
    def web_sessions(self) -> WebSessionAdmin:
        """Signed-in browsers of the web pages."""
        return WebSessionAdmin(self.sessions, timedelta(seconds=self.settings.web_session_idle))

    @cached_property
    def portal(self) -> PortalAdmin:
        """The members' page: sign-in links, member sessions, the Wi-Fi profile."""
        return PortalAdmin(self.sessions, self.actor, self.settings)

    @cached_property
    def accounting(self) -> SessionAdmin:
        """Accounting sessions (who is on): ``sessions`` is the database's session factory."""
        return SessionAdmin(self.sessions, self.actor)

    @cached_property
    def decisions(self) -> DecisionAdmin:
        """Recent sign-in decisions and members' last sign-in and devices online."""
        return DecisionAdmin(self.sessions, self.actor)


__all__ = ["Admin", "open_sessions"]
