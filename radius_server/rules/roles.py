"""Roles of the HTTP API and the web pages: readonly < operator < admin.

- readonly: reads members, clients, sessions, lockouts and history; never a PIN
  or a secret.
- operator: also manages members and their PINs, reminders, lockouts, sessions.
- admin: also clients (NAS) and their secrets, plans, locations, tokens, templates.
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    """A role; a larger value may do everything a smaller one may."""

    READONLY = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The role as written in commands, tokens and documents."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """``readonly`` | ``operator`` | ``admin`` (any case), else ValueError naming them."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown role {text.strip()[:20]!r}: use {', '.join(ROLE_NAMES)}"
            ) from None

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self >= needed

    def sees_secrets(self) -> bool:
        """Whether responses to this role may carry PINs (operator) and secrets (admin)."""
        return self >= Role.OPERATOR


ROLE_NAMES = tuple(role.label for role in Role)
