"""The sections of the staff pages: one line per section, shown to the roles that may open it.

A page helper that adds a section appends one ``Section`` to ``SECTIONS``; the
base layout's navigation and the home page list what the user's role allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from radius_server.rules.roles import Role


@dataclass(frozen=True, slots=True)
class Section:
    """A link in the navigation: where, what it is called, the smallest role that sees it."""

    path: str
    label: str
    role: Role
    description: str = ""


SECTIONS: list[Section] = [
    Section("/staff/", "Home", Role.READONLY, "Where to go."),
    Section("/staff/members", "Members", Role.READONLY, "Find members, their PINs, reminders."),
]


def sections_for(role: Role | None) -> list[Section]:
    """The sections ``role`` may open (none when signed out)."""
    if role is None:
        return []
    return [section for section in SECTIONS if role.allows(section.role)]
