"""Staff password rules (rules/passwords.py) and the web pages' settings."""

from __future__ import annotations

import os

import pytest

from radius_server.config import ConfigError, load_settings
from radius_server.rules.passwords import MIN_PASSWORD, PasswordRefused, check_password
from radius_server.web.pages.staff_auth import safe_next


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("x" * (MIN_PASSWORD - 1), "at least 12"),
        ("ann@example.com", "not be the email"),
        ("  ANN@Example.COM ", "not be the email"),
        ("ann.lastname", "not be the email"),
        ("x" * 1025, "at most 1024"),
        ("twelve chars\x00", "NUL"),
    ],
)
def test_refused_passwords_are_named_never_quoted(password: str, reason: str) -> None:
    """Each refusal says which rule, and never repeats the password."""
    with pytest.raises(PasswordRefused) as refused:
        check_password(
            password, "ann.lastname@example.com" if "lastname" in password else "ann@example.com"
        )
    assert reason in str(refused.value)
    assert password.strip() not in str(refused.value)


def test_accepted_passwords_are_kept_as_typed() -> None:
    """Spaces and any script count; nothing is trimmed or folded."""
    for password in ("correct horse battery", " leading space!", "пароль-достаточно-длинный"):
        assert check_password(password, "ann@example.com") == password


def test_web_session_settings_are_checked() -> None:
    """Idle at most the lifetime, both positive; the public URL an http(s) address."""
    base = {"RADIUS_WEB_SESSION_IDLE": "600", "RADIUS_WEB_SESSION_LIFETIME": "3600"}
    settings = load_settings(os.devnull, environ=base)
    assert (settings.web_session_idle, settings.web_session_lifetime) == (600.0, 3600.0)
    for bad in (
        {"RADIUS_WEB_SESSION_IDLE": "7200", "RADIUS_WEB_SESSION_LIFETIME": "3600"},
        {"RADIUS_WEB_SESSION_IDLE": "0"},
        {"RADIUS_WEB_PUBLIC_URL": "wifi.example.com"},
    ):
        with pytest.raises(ConfigError):
            load_settings(os.devnull, environ=bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/staff/members?q=ann", "/staff/members?q=ann"),
        ("", "/staff/"),
        ("https://evil.example/staff/", "/staff/"),
        ("//evil.example/staff/", "/staff/"),
        ("/staff//evil.example", "/staff/"),
        ("/staff/\\\\evil.example", "/staff/"),
        ("/other/", "/staff/"),
        ("/staff/x\r\nSet-Cookie: a=b", "/staff/"),
    ],
)
def test_safe_next_stays_on_staff_pages(value: str, expected: str) -> None:
    """After sign-in a browser goes only to a staff page of ours."""
    assert safe_next(value) == expected
