"""PIN reminders: choose the members, compose every message, send, audit each delivery."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy.orm import Session, sessionmaker

from radius_server.config import ConfigError, Settings
from radius_server.mail.message import build_message, mailbox
from radius_server.mail.reminders import (
    compose,
    preview_text,
    recipient_of,
    render_for,
    select_recipients,
    send_all,
)
from radius_server.mail.sender import Delivery, SmtpConfig, SmtpSender
from radius_server.mail.template import Rendered, Template
from radius_server.store.customers import CustomerRepository
from radius_server.store.errors import InvalidValue
from radius_server.store.records import CustomerRecord
from radius_server.store.templates import TemplateRepository, record_reminder

# Shown by a dry run when smtp_sender_address is unset (.invalid: RFC 2606, never delivered).
PLACEHOLDER_SENDER = "sender-not-set@example.invalid"


@dataclass(frozen=True, slots=True)
class SmtpChoice:
    """The sending settings, and why a dry run uses a placeholder sender (None: it does not)."""

    config: SmtpConfig
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    """Who gets which message, who the filters left out (email, why), from which template."""

    config: SmtpConfig
    template: Template
    recipients: tuple[CustomerRecord, ...]
    messages: tuple[EmailMessage, ...]
    skipped: tuple[tuple[str, str], ...]

    @property
    def is_bulk(self) -> bool:
        """More than one recipient: a caller confirms before sending."""
        return len(self.recipients) > 1


def check_message(config: SmtpConfig, space_name: str) -> Rendered:
    """A test message that names the settings in use (never the password) and no PIN."""
    text = (
        f"This is a test message from the {space_name} RADIUS server.\n\n"
        f"It was sent through {config.describe()}\n"
        f"from {config.sender}.\n\n"
        "If you can read it, PIN reminders can be sent with these settings.\n"
    )
    return Rendered(subject=f"Test message from {space_name}", text=text, html=None)


class ReminderAdmin:
    """Reminder operations acting as ``actor``."""

    def __init__(self, sessions: sessionmaker[Session], actor: str, settings: Settings) -> None:
        self._sessions = sessions
        self.actor = actor
        self.settings = settings

    def smtp(self, *, dry_run: bool) -> SmtpChoice:
        """The sending settings (ConfigError); a dry run sends nothing, so goes on without."""
        try:
            return SmtpChoice(SmtpConfig.from_settings(self.settings))
        except ConfigError as exc:
            if not dry_run:
                raise
            usable = dataclasses.replace(
                self.settings,
                smtp_sender_address=PLACEHOLDER_SENDER,
                smtp_host=self.settings.smtp_host.strip() or "localhost",
            )
            warning = f"{exc}; this dry run shows {PLACEHOLDER_SENDER} instead"
            return SmtpChoice(SmtpConfig.from_settings(usable), warning)

    def send_test(self, address: str) -> tuple[SmtpConfig, Delivery]:
        """Check the SMTP settings with a real message to ``address`` (no PIN in it).

        Raises ConfigError (SMTP settings) first, then InvalidValue (the address).
        """
        config = SmtpConfig.from_settings(self.settings)
        try:
            recipient = mailbox(address)
        except ValueError as exc:
            raise InvalidValue(str(exc)) from None
        message = build_message(
            check_message(config, self.settings.space_name),
            sender=config.sender,
            recipient=recipient,
        )
        with SmtpSender(config) as sender:
            return config, sender.send(message)

    def plan(
        self,
        config: SmtpConfig,
        emails: Sequence[str] = (),
        *,
        active_only: bool = False,
        wifi_only: bool = False,
    ) -> ReminderPlan:
        """Named members (one unknown refuses all: NotFound), or everyone when none named.

        Every message is built here, before any is sent, so a problem sends none.
        """
        template = TemplateRepository(self._sessions, self.actor).get().template
        customers = CustomerRepository(self._sessions, actor=self.actor)
        selection = select_recipients(
            customers, emails, active_only=active_only, wifi_only=wifi_only
        )
        records = selection.recipients
        messages = compose(
            template, records, sender=config.sender, space_name=self.settings.space_name
        )
        return ReminderPlan(
            config, template, tuple(records), tuple(messages), tuple(selection.skipped)
        )

    def first_message(self, plan: ReminderPlan) -> str:
        """The first message of ``plan`` in full, as text (holds that member's PIN)."""
        first = plan.recipients[0]
        return preview_text(
            render_for(plan.template, first, self.settings.space_name),
            sender=str(plan.config.sender),
            recipient=str(recipient_of(first)),
        )

    def send(
        self,
        plan: ReminderPlan,
        *,
        via: str,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> list[Delivery]:
        """Send every message; audit each delivery in its own transaction, as it happens.

        A failure never stops the rest; ``on_delivery`` sees each result at once.
        """

        def journal(delivery: Delivery) -> None:
            record_reminder(
                self._sessions,
                self.actor,
                delivery.recipient,
                delivery.status,
                delivery.error,
                via=via,
            )

        results: list[Delivery] = []
        with SmtpSender(plan.config) as sender:
            for delivery in send_all(plan.messages, sender, journal):
                results.append(delivery)
                if on_delivery is not None:
                    on_delivery(delivery)
        return results
