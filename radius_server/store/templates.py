"""The reminder template in the database (one copy every admin edits) and the reminder journal.

ORM rows stay in here: callers get ``Template`` and ``StoredTemplate`` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from radius_server.mail.template import DEFAULT_TEMPLATE, Template, validate
from radius_server.store.database import begin_write
from radius_server.store.errors import StoreError
from radius_server.store.journal import audit, utcnow
from radius_server.store.models import MailTemplate
from radius_server.store.records import as_utc

REMINDER = "pin_reminder"
REMINDER_ACTION = "customer.pin_reminder"


class TemplateConflict(StoreError):
    """Another admin changed the template while this one was editing it."""


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    """The template in use: the saved one, or the built-in default when none was saved."""

    template: Template
    is_default: bool
    updated_at: datetime | None = None
    updated_by: str = ""


def _stored(row: MailTemplate | None) -> StoredTemplate:
    if row is None:
        return StoredTemplate(DEFAULT_TEMPLATE, is_default=True)
    return StoredTemplate(
        Template(subject=row.subject, text=row.body_text, html=row.body_html),
        is_default=False,
        updated_at=as_utc(row.updated_at),
        updated_by=row.updated_by,
    )


def changed_parts(old: Template, new: Template) -> list[str]:
    """Which parts differ (``subject``, ``text``, ``html``), for the audit trail."""
    return [
        part for part in ("subject", "text", "html") if getattr(old, part) != getattr(new, part)
    ]


class TemplateRepository:
    """Read, save and reset the PIN reminder template; every change is audited."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = "system") -> None:
        self._sessions = sessions
        self.actor = actor

    def get(self) -> StoredTemplate:
        """The template in use."""
        with self._sessions() as session:
            return _stored(session.get(MailTemplate, REMINDER))

    def save(self, template: Template, *, via: str, expected: Template | None = None) -> list[str]:
        """Validate and store ``template``; return the parts changed ([] when identical).

        ``expected`` is the template the admin started editing from: if someone
        else saved in between, TemplateConflict is raised instead of silently
        overwriting their work. Nothing is written when validation fails.
        """
        validate(template)
        with self._sessions() as session:
            begin_write(session)
            row = session.get(MailTemplate, REMINDER, with_for_update=True)
            current = _stored(row)
            if expected is not None and current.template != expected:
                who = f" by {current.updated_by}" if current.updated_by else ""
                raise TemplateConflict(
                    f"the template was changed{who} while you were editing it; nothing saved"
                )
            parts = changed_parts(current.template, template)
            if not parts:
                return []
            if row is None:
                row = MailTemplate(name=REMINDER)
                session.add(row)
            row.subject = template.subject
            row.body_text = template.text
            row.body_html = template.html
            row.updated_at = utcnow()
            row.updated_by = self.actor
            audit(session, self.actor, "template.set", REMINDER, via=via, parts=parts)
            try:
                session.commit()
            except IntegrityError:
                # Two admins saved the first version at the same instant (PostgreSQL).
                raise TemplateConflict(
                    "the template was changed by someone else at the same moment; try again"
                ) from None
            return parts

    def reset(self, *, via: str) -> bool:
        """Go back to the built-in default; False when it was already in use."""
        with self._sessions() as session:
            begin_write(session)
            row = session.get(MailTemplate, REMINDER, with_for_update=True)
            if row is None:
                return False
            session.delete(row)
            audit(session, self.actor, "template.reset", REMINDER, via=via)
            session.commit()
            return True


def record_reminder(
    sessions: sessionmaker[Session],
    actor: str,
    recipient: str,
    status: str,
    error: str | None,
    *,
    via: str,
) -> None:
    """Audit one reminder, sent or failed, in its own transaction; never the PIN.

    One transaction per recipient so an interrupted batch still shows who got theirs.
    """
    details: dict[str, str] = {"via": via, "status": status}
    if error:
        details["error"] = error
    with sessions() as session:
        audit(session, actor, REMINDER_ACTION, recipient, **details)
        session.commit()
