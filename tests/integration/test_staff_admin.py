"""The staff admin layer: one Argon2 verification per sign-in whatever the email, rehashing,
sessions and links ended or kept as the rules say. Both back ends."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.admin import Admin
from radius_server.admin import staff as staff_module
from radius_server.config import load_settings
from radius_server.rules.roles import Role
from radius_server.store.errors import NotFound
from radius_server.store.models import SignInLink, WebSession
from radius_server.store.staff import LinkNotValid

PASSWORD = "a password long enough"
HOUR = timedelta(hours=1)


@pytest.fixture
def admin(clean_sessions: sessionmaker[Session]) -> Admin:
    """The admin layer on an emptied database, acting as ``test``."""
    return Admin(load_settings(os.devnull, environ={}), clean_sessions, "test")


def test_every_refused_sign_in_costs_one_verification(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown, disabled, password-less and wrong: one Argon2 verify each, no session."""
    admin.staff.add("ann@example.com", Role.ADMIN, PASSWORD)
    admin.staff.add("dis@example.com", Role.ADMIN, PASSWORD)
    admin.staff.set_disabled("dis@example.com", True)
    admin.staff.add("new@example.com", Role.ADMIN)
    admin.staff.add("long@example.com", Role.ADMIN, "y" * 1024)  # the longest allowed
    calls: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, stored: Any, password: Any) -> bool:
        calls.append(str(stored)[:9])
        return original(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    for email, password in (
        ("nobody@example.com", PASSWORD),
        ("dis@example.com", PASSWORD),
        ("new@example.com", PASSWORD),
        ("ann@example.com", "a wrong password"),
        ("x" * 300 + "@example.com", PASSWORD),
        ("long@example.com", "y" * 1025),  # its password, and one more character
    ):
        assert admin.staff.sign_in(email, password, HOUR) is None
    assert calls == ["$argon2id"] * 6
    with admin.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_sign_in_opens_a_session_and_rehashes_old_parameters(admin: Admin) -> None:
    """A hash made with weaker parameters is replaced at the next good sign-in."""
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    admin.staff.add("ann@example.com", Role.OPERATOR)
    admin.staff._repo.set_password("ann@example.com", weak)
    done = admin.staff.sign_in("ANN@example.com", PASSWORD, HOUR)
    assert done is not None and done.staff.email == "ann@example.com"
    assert admin.web_sessions.find(done.session_id) is not None
    _record, stored = admin.staff._repo.credentials("ann@example.com") or (None, None)
    assert stored is not None and stored != weak
    assert not staff_module._hasher().check_needs_rehash(stored)
    assert admin.staff.get("ann@example.com").last_sign_in_at is not None
    assert admin.web_sessions.close(done.session_id) is not None
    assert admin.web_sessions.find(done.session_id) is None


def test_a_link_is_used_once_and_not_by_a_refused_password(admin: Admin) -> None:
    """A refused password leaves the link; the right one uses it; removal ends everything."""
    _record, token = admin.staff.add("ann@example.com", Role.READONLY, with_link=True)
    assert token is not None
    with pytest.raises(staff_module.PasswordRejected):
        admin.staff.set_password_by_link(token, "short")
    assert admin.staff.link_email(token) == "ann@example.com"
    assert admin.staff.set_password_by_link(token, PASSWORD).has_password
    with pytest.raises(LinkNotValid):
        admin.staff.set_password_by_link(token, PASSWORD)
    done = admin.staff.sign_in("ann@example.com", PASSWORD, HOUR)
    assert done is not None
    admin.staff.remove("ann@example.com")
    assert admin.web_sessions.find(done.session_id) is None
    with pytest.raises(NotFound):
        admin.staff.password_link("ann@example.com")
    with admin.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SignInLink)) == 1
