"""Fast reconnect: which member a resumed TLS session belongs to, and whether it still counts.

A PEAP or TTLS conversation that resumes an earlier TLS session (a TLS 1.2 session id or
RFC 5077 ticket; a TLS 1.3 ticket, RFC 8446 4.6.1) may skip the inner method (RFC 5281,
*Session Resumption*; MS-PEAP 3.3.7.1, fast reconnect), but only while the member is still
allowed. OpenSSL keeps the sessions and
tickets; this table keeps, per session, who proved their PIN in it: a ``Binding`` (member id,
the PIN and its ``pin_changed_at``, the EAP type), keyed by a digest of the session's secret
(the TLS 1.2 master secret, or the TLS 1.3 ticket's PSK: the one value that is the same when
the session is issued and when it is resumed, see ``eap/tls.py``).

At resumption the binding is re-checked against the CURRENT directory: the member must
still exist with the same PIN and PIN version (a PIN change or a removal: the binding is
forgotten and the inner method runs, so a device holding the old PIN fails as it would on a
full handshake). Every other rule (active, Wi-Fi access, validity, plan, hours, location,
device limit, lockouts) is the engine's ``verify`` with :func:`proven_by_resumption` as the
PIN check: the normal decision path, the credential proven by the session instead of a PIN.

Bounded: at most ``max_entries`` bindings (the oldest go first) and each lives
``lifetime`` seconds. Per process: OpenSSL's ticket keys are per process (pyOpenSSL and
cryptography's bindings expose no way to set them), so a session resumes only where it was
made. With ``--workers`` each device's EAP reaches the worker owning it
(runtime/affinity.py); a reconnect that reaches another machine or instance is a full
handshake (docs/architecture.md, *Fast reconnect*). Pure: the clock is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from radius_server.rules import policy
from radius_server.rules.directory import Member

# Domain separation: the table's keys are never the secrets themselves.
_KEY_PREFIX = b"radius-server eap resumption v1\x00"


def session_key(secret: bytes) -> bytes:
    """The table key of a TLS session secret (master secret or PSK): a SHA-256 digest."""
    return hashlib.sha256(_KEY_PREFIX + secret).digest()


@dataclass(frozen=True, slots=True)
class Binding:
    """Who proved their PIN in a TLS session, and with which PIN. ``repr`` hides the PIN."""

    member_id: int
    email: str
    pin: bytes = field(repr=False)
    pin_changed_at: float | None
    eap_type: int
    expires: float  # monotonic seconds


def binding_for(member: Member, eap_type: int, now: float, lifetime: float) -> Binding:
    """The binding of ``member``'s accepted sign-in, good for ``lifetime`` seconds."""
    return Binding(
        member.id, member.email, member.pin, member.pin_changed_at, eap_type, now + lifetime
    )


def still_valid(binding: Binding, member: Member | None) -> bool:
    """True when ``member`` (the directory's current one) is the same member, same PIN version."""
    if member is None or member.id != binding.member_id:
        return False
    if member.pin_changed_at != binding.pin_changed_at:
        return False
    return hmac.compare_digest(member.pin, binding.pin)


def proven_by_resumption(binding: Binding) -> policy.PinCheck:
    """The PIN check of a resumed session: the PIN proven when the session was made.

    Judged like a PIN typed again: the member's current PIN passes, the previous one
    is a stale device's (``stale_pin``), any other is wrong.
    """

    def check(pin: bytes) -> Literal[True] | None:
        return policy.PROVEN if hmac.compare_digest(pin, binding.pin) else None

    return check


class ResumptionTable:
    """Bindings by session key, oldest first; bounded by count and age."""

    def __init__(self, max_entries: int, lifetime: float) -> None:
        self.max_entries = max_entries
        self.lifetime = lifetime
        # Bindings pushed out to make room (for logs and tests).
        self.evicted = 0
        self._by_key: OrderedDict[bytes, Binding] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_key)

    def remember(self, keys: Iterable[bytes], member: Member, eap_type: int, now: float) -> None:
        """Bind the sessions ``keys`` (from :func:`session_key`) to ``member``'s accept."""
        self.expire(now)
        binding = binding_for(member, eap_type, now, self.lifetime)
        for key in keys:
            self._by_key.pop(key, None)
            self._by_key[key] = binding
        while len(self._by_key) > self.max_entries:
            self._by_key.popitem(last=False)
            self.evicted += 1

    def find(self, key: bytes, eap_type: int, now: float) -> Binding | None:
        """The live binding of ``key`` made in the same EAP method, or None.

        A session is resumed only in the method that made it: a PEAP session's binding
        does not skip a TTLS inner method.
        """
        binding = self._by_key.get(key)
        if binding is None:
            return None
        if binding.expires <= now:
            del self._by_key[key]
            return None
        return binding if binding.eap_type == eap_type else None

    def forget(self, key: bytes) -> None:
        """Drop one binding (its member changed: it never skips the inner method again)."""
        self._by_key.pop(key, None)

    def expire(self, now: float) -> int:
        """Forget bindings past their lifetime; return how many."""
        expired = 0
        while self._by_key:
            key, oldest = next(iter(self._by_key.items()))
            if oldest.expires > now:
                break
            del self._by_key[key]
            expired += 1
        return expired


class MemberLookup(Protocol):
    """The directory's members as fast reconnect reads them (``rules.directory.Members``)."""

    def get(self, user_name: str) -> Member | None:
        """The member with this email."""
        ...

    def by_id(self, member_id: int) -> Member | None:
        """The member with this id."""
        ...


class FastReconnect:
    """The table plus the directory it checks against: ``conversation.Reconnect``."""

    def __init__(self, table: ResumptionTable, members: Callable[[], MemberLookup]) -> None:
        # A function, not the members themselves: the directory's view is read at each
        # use, so a reload or a change applied is seen at once.
        self.table = table
        self._members = members

    def resume(self, key: bytes, eap_type: int, now: float) -> tuple[Binding, Member | None] | None:
        """The binding of a resumed session and its member as the directory has them now.

        None: no binding (never made, expired, evicted, another method). A binding
        whose member changed (PIN, removal) is forgotten here, so it is judged once.
        """
        binding = self.table.find(key, eap_type, now)
        if binding is None:
            return None
        member = self._members().by_id(binding.member_id)
        if not still_valid(binding, member):
            self.table.forget(key)
        return binding, member

    def remember(self, keys: list[bytes], email: str, eap_type: int, now: float) -> None:
        """Bind an accepted conversation's sessions to the member just signed in."""
        member = self._members().get(email)
        if member is not None:
            self.table.remember(keys, member, eap_type, now)
