"""Build the MIME message: plain text, or multipart/alternative when there is an HTML part."""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from radius_server.mail.template import Rendered


def mailbox(address: str, display_name: str = "") -> Address:
    """An address header value; ValueError when ``address`` is not ``local@domain``."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    # Address quotes or RFC 2047-encodes the name as needed; a line break would be
    # header injection, so collapse whitespace first.
    return Address(display_name=" ".join(display_name.split()), username=local, domain=domain)


def build_message(
    rendered: Rendered,
    *,
    sender: Address,
    recipient: Address,
    now: datetime | None = None,
) -> EmailMessage:
    """One message to one recipient, with Date and a Message-ID in the sender's domain."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.domain)
    message.set_content(rendered.text)
    if rendered.html is not None:
        # Plain text first: RFC 2046 orders alternatives from plainest to richest.
        message.add_alternative(rendered.html, subtype="html")
    return message
