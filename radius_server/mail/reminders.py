"""PIN reminders end to end: choose the members, compose every message, send, audit."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage

from radius_server.mail.message import build_message, mailbox
from radius_server.mail.sender import Delivery, SmtpSender
from radius_server.mail.template import (
    HTML_SEPARATOR,
    Rendered,
    Template,
    placeholder_values,
    render,
)
from radius_server.store.customers import CustomerRepository, normalize_email
from radius_server.store.errors import NotFound
from radius_server.store.records import CustomerRecord


@dataclass(frozen=True, slots=True)
class Selection:
    """Who gets a reminder, and which named members the filters left out (email, why)."""

    recipients: list[CustomerRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def select_recipients(
    customers: CustomerRepository,
    emails: Sequence[str],
    *,
    active_only: bool = False,
    wifi_only: bool = False,
) -> Selection:
    """Named members (all must exist), or every member when ``emails`` is empty; then filter.

    One unknown address refuses the whole run: a typo is fixed before anyone is mailed.
    """
    if not emails:
        found = customers.find(
            active=True if active_only else None, wifi_access=True if wifi_only else None
        )
        return Selection(found)
    records: list[CustomerRecord] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for email in emails:
        address = normalize_email(email)
        if address in seen:
            continue
        seen.add(address)
        try:
            records.append(customers.get(address))
        except NotFound:
            unknown.append(address)
    if unknown:
        raise NotFound(f"no customer with email {', '.join(unknown)}; nothing sent")
    chosen: list[CustomerRecord] = []
    skipped: list[tuple[str, str]] = []
    for record in records:
        if active_only and not record.active:
            skipped.append((record.email, "disabled"))
        elif wifi_only and not record.wifi_access:
            skipped.append((record.email, "no Wi-Fi access"))
        else:
            chosen.append(record)
    return Selection(chosen, skipped)


def render_for(template: Template, record: CustomerRecord, space_name: str) -> Rendered:
    """The template filled in for one member (holds the PIN)."""
    values = placeholder_values(
        name=record.full_name, email=record.email, pin=record.pin, space_name=space_name
    )
    return render(template, values)


def recipient_of(record: CustomerRecord) -> Address:
    """The To address of a member, with their name."""
    return mailbox(record.email, record.full_name)


def compose(
    template: Template, records: Sequence[CustomerRecord], *, sender: Address, space_name: str
) -> list[EmailMessage]:
    """Every message of the batch, built before the first is sent so a problem sends none."""
    return [
        build_message(
            render_for(template, record, space_name), sender=sender, recipient=recipient_of(record)
        )
        for record in records
    ]


def send_all(
    messages: Sequence[EmailMessage],
    sender: SmtpSender,
    journal: Callable[[Delivery], None],
) -> Iterator[Delivery]:
    """Send each message, journal its result, and yield it; a failure never stops the rest."""
    for message in messages:
        delivery = sender.send(message)
        journal(delivery)
        yield delivery


def preview_text(rendered: Rendered, *, sender: str, recipient: str) -> str:
    """A readable message for an admin: headers, plain body, HTML part if any."""
    lines = [f"From: {sender}", f"To: {recipient}", f"Subject: {rendered.subject}", ""]
    lines.append(rendered.text.rstrip("\n"))
    if rendered.html is not None:
        lines += [HTML_SEPARATOR, rendered.html.rstrip()]
    return "\n".join(lines) + "\n"
