"""The PIN reminder template every admin shares: read, save, reset, preview."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from radius_server.config import ConfigError, Settings
from radius_server.mail.reminders import recipient_of, render_for
from radius_server.mail.sender import SmtpConfig
from radius_server.mail.template import (
    DEFAULT_TEMPLATE,
    Rendered,
    Template,
    parse_file,
    validate,
)
from radius_server.store.customers import CustomerRepository
from radius_server.store.templates import StoredTemplate, TemplateRepository

# Shown as the sender of a preview before SMTP is configured.
NO_SENDER = "(smtp_sender_address is not set)"


@dataclass(frozen=True, slots=True)
class Preview:
    """The message one member would get (holds their PIN)."""

    sender: str
    recipient: str
    rendered: Rendered


class TemplateAdmin:
    """Template operations acting as ``actor``; every change is audited with ``via``."""

    def __init__(self, sessions: sessionmaker[Session], actor: str, settings: Settings) -> None:
        self._sessions = sessions
        self.actor = actor
        self.settings = settings

    def _repo(self) -> TemplateRepository:
        return TemplateRepository(self._sessions, self.actor)

    def get(self, *, default: bool = False) -> StoredTemplate:
        """The template in use, or the built-in default when ``default``."""
        if default:
            return StoredTemplate(DEFAULT_TEMPLATE, is_default=True)
        return self._repo().get()

    def save(self, template: Template, *, via: str, expected: Template | None = None) -> list[str]:
        """Validate and store; return the parts changed ([] when identical).

        ``expected``: the template the edit started from; TemplateConflict if
        someone saved in between. TemplateError when the template is invalid.
        """
        return self._repo().save(template, via=via, expected=expected)

    def save_text(self, source: str, *, via: str, expected: Template | None = None) -> list[str]:
        """Parse the file format of ``template show`` and save it (see :meth:`save`)."""
        return self.save(parse_file(source), via=via, expected=expected)

    def reset(self, *, via: str) -> bool:
        """Go back to the built-in default; False when it was already in use."""
        return self._repo().reset(via=via)

    def preview(self, email: str, template: Template | None = None) -> Preview:
        """The message ``email`` would get; works before SMTP is configured.

        ``template``: an edit not saved yet (validated first: TemplateError lists
        every problem); None previews the template in use.
        """
        if template is not None:
            validate(template)
        record = CustomerRepository(self._sessions, actor=self.actor).get(email)
        chosen = template if template is not None else self._repo().get().template
        rendered = render_for(chosen, record, self.settings.space_name)
        try:
            sender = str(SmtpConfig.from_settings(self.settings).sender)
        except ConfigError:
            # Previewing the wording must work before SMTP is configured.
            sender = NO_SENDER
        return Preview(sender, str(recipient_of(record)), rendered)
