"""One-time links by email (staff password set-up, member sign-in): the address and the send."""

from __future__ import annotations

from urllib.parse import urlencode

from radius_server.mail.message import Address, build_message
from radius_server.mail.sender import Delivery, SmtpConfig, SmtpSender
from radius_server.mail.template import Rendered


def link_address(public_url: str, path: str, token: str) -> str:
    """The full address of the page at ``path`` for ``token`` (``public_url``: web_public_url)."""
    return f"{public_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def send_link_message(config: SmtpConfig, rendered: Rendered, recipient: Address) -> Delivery:
    """Send one link message (it carries the link, never a PIN or password)."""
    message = build_message(rendered, sender=config.sender, recipient=recipient)
    with SmtpSender(config) as sender:
        return sender.send(message)
