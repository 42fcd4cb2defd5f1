"""What a staff password must be: long enough, not the email. Pure: no hashing here.

Length is what makes a password hard to guess (NIST SP 800-63B 5.1.1.2: at
least 8, and no composition rules); staff passwords guard PINs, so we ask for
12. An upper bound keeps a hash request from being a denial of service.
"""

from __future__ import annotations

MIN_PASSWORD = 12
MAX_PASSWORD = 1024


class PasswordRefused(ValueError):
    """A password breaks a rule; the message never quotes it."""

    field = "password"


def check_password(password: str, email: str) -> str:
    """Return ``password`` unchanged if it may be used by ``email``, else PasswordRefused."""
    if len(password) < MIN_PASSWORD:
        raise PasswordRefused(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordRefused(f"the password must have at most {MAX_PASSWORD} characters")
    folded = password.strip().casefold()
    address = email.strip().casefold()
    if folded in (address, address.partition("@")[0]):
        raise PasswordRefused("the password must not be the email address")
    if "\x00" in password:
        raise PasswordRefused("the password must not contain a NUL character")
    return password
