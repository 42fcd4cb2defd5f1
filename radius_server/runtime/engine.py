"""One request from bytes to bytes: client, duplicate check, decode, verify, decide, encode, log.

Synchronous and free of I/O: everything it reads is in memory (the Directory),
so the transport can call it straight from ``datagram_received``. Every
request ends in exactly one canonical log line (``access`` or ``accounting``),
except retransmissions (answered from the cache, logged at debug) and packets
from unknown addresses (rate-limited ``unknown_client`` lines). An authentic
Accounting-Request is the one request answered later: its record goes to the
accounting sink, and the answer and the line follow once the record is kept.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from radius_server.logging import JsonLines, json_string, json_text
from radius_server.protocol import codes as c
from radius_server.protocol.authenticator import Authenticity, check_request_authenticity
from radius_server.protocol.errors import MalformedPacket
from radius_server.protocol.packet import RadiusRequest, decode_request
from radius_server.protocol.reply import attributes_size, encode_reply, reply_room
from radius_server.protocol.reply_cache import CacheKey, ReplyCache
from radius_server.rules import policy
from radius_server.rules.accounting import (
    AccountingError,
    AccountingRecord,
    class_member_id,
    record_from_request,
)
from radius_server.rules.decision import Decision, Outcome, Reason, drop
from radius_server.rules.decision_log import Entry
from radius_server.rules.directory import Client, Directory
from radius_server.rules.methods import MethodHandler, builtin_methods, method_name
from radius_server.rules.online import OnlineDevices
from radius_server.rules.policy import Tally
from radius_server.rules.ratelimit import LogThrottle
from radius_server.rules.throttle import identity_key, location_key, normalize_station
from radius_server.rules.validity import load_zone
from radius_server.runtime.accounting import STORED_DATABASE, STORED_SPOOL
from radius_server.runtime.guard import Guard
from radius_server.runtime.request_stats import NO_METHOD, UNKNOWN_CLIENT, RequestStats

_REPLY_CODE = {
    Outcome.ACCEPT: c.Code.ACCESS_ACCEPT,
    Outcome.REJECT: c.Code.ACCESS_REJECT,
    Outcome.CHALLENGE: c.Code.ACCESS_CHALLENGE,
}
_AUTHENTICITY_REASON = {
    Authenticity.BAD_AUTHENTICATOR: Reason.BAD_AUTHENTICATOR,
    Authenticity.MISSING_MESSAGE_AUTHENTICATOR: Reason.MISSING_MESSAGE_AUTHENTICATOR,
}
# The random part of each accept's Class (RFC 2865 5.25), and how many octets are
# drawn from the system at once.
TOKEN_SIZE = 8
TOKEN_POOL = 4096
_MAX_ATTRIBUTE = 2 + c.MAX_ATTRIBUTE_VALUE_LENGTH
_ACCT_STATUS = {1: "start", 2: "stop", 3: "interim-update", 7: "accounting-on", 8: "accounting-off"}
_ACCOUNTED = Decision(Outcome.ACCEPT, Reason.ACCOUNTING)
_ACCESS_REQUEST = int(c.Code.ACCESS_REQUEST)
_ACCOUNTING_REQUEST = int(c.Code.ACCOUNTING_REQUEST)
_STATUS_SERVER = int(c.Code.STATUS_SERVER)
_HEADER_LENGTH = c.HEADER_LENGTH
_DROP = Outcome.DROP
# Enum members as module constants: in Python 3.11 reading ``Outcome.REJECT`` from the
# class costs about 0.1 us (the enum metaclass), several times per request.
_REJECT = Outcome.REJECT
_AUTHENTIC = Authenticity.OK
_SUCCESS = Tally.SUCCESS
_FAILURE = Tally.FAILURE
# Room for attributes in any reply to a request without Proxy-State: 4096 less the
# header and the Message-Authenticator (reply_room's least answer).
_ROOM = c.MAX_PACKET_LENGTH - c.HEADER_LENGTH - 18
# The level of each outcome's line: a drop is a warning; an EAP step (challenge) is
# debug detail, since a sign-in takes about nine round trips and its final accept or
# reject line carries the outcome.
_LEVEL = {"accept": "info", "reject": "info", "challenge": "debug", "drop": "warning"}
# Where a kept accounting record is bound for the sessions table (runtime/accounting.py):
# what the devices-online view may count. A record the database refused is not.
_DURABLE = frozenset({STORED_DATABASE, STORED_SPOOL})
# Counters the accounting line reports, when the packet carried them.
_ACCT_FIELDS = ("session_time", "input_octets", "output_octets", "terminate_cause")
_K = TypeVar("_K")
_V = TypeVar("_V")


class AccountingSink(Protocol):
    """Where the engine hands accounting records (runtime/accounting.AccountingWriter)."""

    def submit(self, record: AccountingRecord, done: Callable[[str | None], None]) -> None:
        """Keep ``record``; later call ``done`` on the event loop with where it is kept
        ("database", "spool", ...) or None when it could not be kept."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Tunables of the engine (from Settings)."""

    reply_cache_seconds: float = 5.0
    reject_delay: float = 0.0
    unknown_client_log_interval: float = 10.0
    # How long after a PIN change the previous PIN is answered stale_pin (setting
    # stale_pin_days); a member rule, not a guessing-protection budget.
    stale_pin_seconds: float = 30 * 86400.0
    # Sent in every Access-Accept (setting acct_interim_interval, RFC 2869 5.16).
    acct_interim_interval: int = 600
    # Devices a member may have online at once unless their own limit says otherwise
    # (setting device_limit; 0 = unlimited). Counted only with an OnlineDevices view.
    device_limit: int = 3
    # The space's IANA time zone (setting timezone): plans' hours at a NAS without a
    # location are read in it.
    timezone: str = "UTC"


@dataclass(slots=True)
class _Context:
    """What the canonical log line reports about one request."""

    started: float
    client: Client
    address: str
    request: RadiusRequest | None = None
    method: str | None = None
    detail: str | None = None
    record: AccountingRecord | None = None


class Engine:
    """Answers Access-Requests, Status-Server and Accounting-Requests from memory."""

    def __init__(
        self,
        directory: Directory,
        log: Any,
        options: EngineOptions | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        methods: dict[str, MethodHandler] | None = None,
        guard: Guard | None = None,
        accounting: AccountingSink | None = None,
        online: OnlineDevices | None = None,
        token: Callable[[int], bytes] = os.urandom,
        record_decision: Callable[[Entry], None] | None = None,
        lines: JsonLines | None = None,
    ) -> None:
        self.directory = directory
        # The canonical line's fast path (logging.JsonLines, when the process logs JSON
        # lines through the buffer); None: through ``log``, like every other event.
        self.lines = lines
        # Where each Access-Request's accept or reject goes besides the log line
        # (runtime/decisions.py's queue: one append); None: not recorded.
        self.record_decision = record_decision
        # Where accounting records go before they are acknowledged; None (tests of the
        # bare engine): acknowledged at once. ``send`` delivers a deferred reply
        # (runtime/server.py sets it to the accounting socket's).
        self.accounting = accounting
        self.send: Callable[[bytes, tuple[str, int]], None] | None = None
        # Devices online per member (rules/online.py); None: no device is counted.
        self.online = online
        # Random bytes for each accept's Class (the sign-in's token).
        self.token = token
        # Guessing protection; None only in tests of the bare decision path.
        self.guard = guard
        # The method registry (rules/methods.py): PAP and CHAP, plus what eap/setup.py
        # builds ("mschap", and "eap" when a certificate is configured).
        self.methods: dict[str, MethodHandler] = {**builtin_methods(), **(methods or {})}
        self.log = log
        self.options = options or EngineOptions()
        self.clock = clock
        self.monotonic = monotonic
        self._verifier = _Verify(self)
        self.session_rules = policy.session_rules(
            self.options.device_limit,
            self.options.acct_interim_interval,
            load_zone(self.options.timezone),
        )
        self._auth_cache = ReplyCache(ttl=self.options.reply_cache_seconds)
        self._acct_cache = ReplyCache(ttl=self.options.reply_cache_seconds)
        self._unknown_log = LogThrottle(self.options.unknown_client_log_interval)
        # Counters for /metrics (runtime/request_stats.py), filled in _log.
        self.stats = RequestStats()
        # Request ids: process-unique, short, sortable enough to grep.
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}"
        # The line's recurring strings (client names, NAS addresses and identifiers,
        # access points, methods) as JSON text, escaped once rather than per request.
        self._quoted = _Memo(json_string, 4096)

    # -- entry points (the transport's handlers) ---------------------------------

    def handle_auth(self, data: bytes, source: tuple[str, int]) -> tuple[bytes, float] | None:
        """A datagram on the authentication port."""
        return self._handle(data, source, self._auth_cache, self._authenticate)

    def handle_acct(self, data: bytes, source: tuple[str, int]) -> tuple[bytes, float] | None:
        """A datagram on the accounting port."""
        return self._handle(data, source, self._acct_cache, self._account, accounting=True)

    # -- shared pipeline -------------------------------------------------------------

    def _handle(
        self,
        data: bytes,
        source: tuple[str, int],
        cache: ReplyCache,
        decide: Callable[[_Context], Decision],
        *,
        accounting: bool = False,
    ) -> tuple[bytes, float] | None:
        started = time.perf_counter()
        address, port = source
        client = self.directory.clients.match(address)
        if client is None:
            self._log_unknown_client(address)
            return None
        ctx = _Context(started, client, address)
        if len(data) < _HEADER_LENGTH:
            self._log(ctx, drop(Reason.MALFORMED), detail="truncated")
            return None
        key = (address, port, data[1], data[4:20])
        now = self.monotonic()
        cached = cache.claim(key, now)
        if cached is not None:
            # RFC 5080 2.2.2: same reply, no second decision (and no second failure count).
            hit = "resent" if isinstance(cached, bytes) else "in_progress"
            self.stats.reply_cache_hits[hit] += 1
            self.log.debug(
                "retransmission",
                client=client.name,
                client_address=address,
                identifier=data[1],
                answered=isinstance(cached, bytes),
            )
            return (cached, 0.0) if isinstance(cached, bytes) else None
        try:
            ctx.request = decode_request(data)
        except MalformedPacket as exc:
            cache.discard(key)
            self._log(ctx, drop(Reason.MALFORMED), detail=str(exc.reason))
            return None
        try:
            decision = self._status(ctx) if ctx.request.code == _STATUS_SERVER else decide(ctx)
            if decision.outcome is _DROP:
                reply = None
            else:
                request = ctx.request
                assert request is not None
                if request.proxy_states or _MAX_ATTRIBUTE * len(decision.attributes) > _ROOM:
                    # Perhaps too large (else it fits: the common case, decided unsummed).
                    decision = self._fit(ctx, decision, accounting)
                if decision.outcome is _DROP:
                    reply = None
                elif accounting:
                    reply = self._encode(ctx, decision, accounting)
                else:
                    # _encode for an Access-* reply, inline: once per answered request.
                    reply = encode_reply(
                        request,
                        _REPLY_CODE[decision.outcome],
                        ctx.client.secret,
                        decision.attributes,
                    )
        except Exception as exc:  # a bug must cost one request, not the server
            cache.discard(key)  # let the NAS's retransmission try again
            self._log(ctx, drop(Reason.INTERNAL_ERROR), detail=type(exc).__name__)
            return None
        if reply is None:
            # Not remembered: a drop may have been passing (a full EAP table, storage not
            # loaded yet), so the NAS's retransmission is decided afresh.
            cache.discard(key)
            self._log(ctx, decision)
            return None
        if accounting and ctx.record is not None and self.accounting is not None:
            self._defer(ctx, cache, key, reply, source)
            return None
        delay = self.options.reject_delay if decision.outcome is _REJECT else 0.0
        # Held until its send time: a duplicate must not get a delayed reject sooner.
        cache.store(key, reply, self.monotonic() if delay else now, delay)
        self._log(ctx, decision)
        return reply, delay

    def _fit(self, ctx: _Context, decision: Decision, accounting: bool) -> Decision:
        """``decision``, or a smaller answer when its reply would pass 4096 octets.

        Every Proxy-State must be echoed (RFC 2865 5.33), so a chain of proxies can
        leave too little room: a reject then goes without its attributes, an accept or
        challenge becomes a bare reject (reason reply_too_large, detail: what it was),
        and with no room even for that the request is dropped. Methods that can size
        what they send (EAP fragments) do so first; this is the net under all of them.
        """
        request = ctx.request
        assert request is not None
        if not request.proxy_states and _MAX_ATTRIBUTE * len(decision.attributes) <= _ROOM:
            return decision  # the common case, decided without summing anything
        code = c.Code.ACCOUNTING_RESPONSE if accounting else _REPLY_CODE[decision.outcome]
        room = reply_room(request, code)
        # Each attribute takes at most 255 octets: a few always fit, unsummed.
        if _MAX_ATTRIBUTE * len(decision.attributes) <= room:
            return decision
        if attributes_size(decision.attributes) <= room:
            return decision
        if reply_room(request, c.Code.ACCESS_REJECT) < 0:
            return drop(Reason.REPLY_TOO_LARGE).replace(detail=decision.reason.value)
        if decision.outcome is Outcome.REJECT:
            return decision.replace(attributes=())
        return Decision(
            Outcome.REJECT,
            Reason.REPLY_TOO_LARGE,
            member_email=decision.member_email,
            detail=decision.reason.value,
        )

    def _encode(self, ctx: _Context, decision: Decision, accounting: bool) -> bytes:
        request = ctx.request
        assert request is not None
        # Accounting-Request, and Status-Server on the accounting port (RFC 5997 3),
        # get an Accounting-Response.
        code = c.Code.ACCOUNTING_RESPONSE if accounting else _REPLY_CODE[decision.outcome]
        return encode_reply(request, code, ctx.client.secret, decision.attributes)

    def _verify(self, ctx: _Context) -> Decision | None:
        request = ctx.request
        assert request is not None
        # Positional: require_message_authenticator third (keywords cost more per request).
        verdict = check_request_authenticity(
            request, ctx.client.secret, ctx.client.require_message_authenticator
        )
        if verdict is _AUTHENTIC:
            return None
        return drop(_AUTHENTICITY_REASON[verdict])

    def _status(self, ctx: _Context) -> Decision:
        """Status-Server on either port (RFC 5997): answered when it verifies, else dropped."""
        ctx.method = "status"
        return self._verify(ctx) or Decision(Outcome.ACCEPT, Reason.STATUS)

    # -- authentication --------------------------------------------------------------

    def _authenticate(self, ctx: _Context) -> Decision:
        request = ctx.request
        assert request is not None
        if request.code != _ACCESS_REQUEST:
            return drop(Reason.UNSUPPORTED_CODE)
        ctx.method = method_name(request)
        refused = self._verify(ctx)
        if refused is not None:
            return refused
        if request.user_name is None:
            refused = self._without_user_name(ctx)
            if refused is not None:
                return refused
        if not self.directory.ready:
            # Storage never loaded: dropping lets the NAS fail over instead of
            # rejecting a paying member.
            return drop(Reason.STORAGE_UNAVAILABLE)
        handler = self.methods.get(ctx.method)
        if handler is None:
            return policy.reject(
                Reason.UNSUPPORTED_METHOD, self.directory.members.get(request.user_name)
            )
        verify = self._verifier
        verify.request = request
        verify.client = ctx.client
        result = handler.handle(request, ctx.client, verify, self.monotonic())
        ctx.method = result.method or ctx.method
        ctx.detail = result.detail or ctx.detail
        return result.decision

    def _without_user_name(self, ctx: _Context) -> Decision | None:
        """The answer to an authentic request without User-Name text; None lets EAP go on."""
        request = ctx.request
        assert request is not None
        if not request.empty_user_name:
            ctx.detail = "no_user_name"
            return drop(Reason.MALFORMED)
        if ctx.method == "eap" and "eap" in self.methods:
            # hostapd copies an empty EAP identity into User-Name. EAP carries the
            # identities that count (outer, then the inner one the PIN is checked for),
            # so the conversation goes on; its accept names the member in User-Name.
            return None
        # RFC 2865 5: an attribute with an invalid length in an Access-Request SHOULD get
        # an Access-Reject (FreeRADIUS does): the NAS hears an answer instead of silence.
        return policy.reject(Reason.NO_USER_NAME)

    # -- accounting ------------------------------------------------------------------

    def _account(self, ctx: _Context) -> Decision:
        request = ctx.request
        assert request is not None
        if request.code != c.Code.ACCOUNTING_REQUEST:
            return drop(Reason.UNSUPPORTED_CODE)
        ctx.method = "accounting"
        refused = self._verify(ctx)
        if refused is not None:
            return refused
        try:
            ctx.record = record_from_request(
                request, ctx.client.name, ctx.address, self.clock(), self._session_owner(request)
            )
        except AccountingError as exc:
            return drop(Reason.MALFORMED).replace(detail=str(exc))
        return _ACCOUNTED

    def _session_owner(self, request: RadiusRequest) -> tuple[int, str] | None:
        """(id, email) of the member a session belongs to: our Class, else User-Name."""
        members = self.directory.members
        member_id = class_member_id(request.get(c.CLASS))
        member = members.by_id(member_id) if member_id is not None else None
        if member is None and request.user_name:
            member = members.get(request.user_name)
        return None if member is None else (member.id, member.email)

    def _defer(
        self,
        ctx: _Context,
        cache: ReplyCache,
        key: CacheKey,
        reply: bytes,
        source: tuple[str, int],
    ) -> None:
        """Answer once the record is durable (runtime/accounting.py), never before.

        Until then the cache entry stays in progress: a retransmission meanwhile is
        not decided (nor stored) twice. A record that could not be kept gets no
        answer and is forgotten, so the NAS's next retransmission tries again.
        """
        assert self.accounting is not None and ctx.record is not None
        record = ctx.record

        def done(stored: str | None) -> None:
            if stored in _DURABLE and self.online is not None:
                # This server's own sessions count at once, before any database poll.
                self.online.apply(record)
            if stored:
                cache.store(key, reply, self.monotonic())
                if self.send is not None:
                    self.send(reply, source)
                self._log(ctx, _ACCOUNTED, stored=stored)
            else:
                cache.discard(key)
                self._log(ctx, drop(Reason.NOT_STORED))

        self.accounting.submit(record, done)

    # -- logging ---------------------------------------------------------------------

    def _log_unknown_client(self, address: str) -> None:
        self.stats.count("drop", Reason.UNKNOWN_CLIENT.value, NO_METHOD, UNKNOWN_CLIENT)
        suppressed = self._unknown_log.admit(address, self.monotonic())
        if suppressed is not None:
            self.log.warning(
                "unknown_client",
                outcome="drop",
                reason=Reason.UNKNOWN_CLIENT.value,
                client_address=address,
                suppressed=suppressed,
            )

    def _log(
        self,
        ctx: _Context,
        decision: Decision,
        detail: str | None = None,
        stored: str | None = None,
    ) -> None:
        request = ctx.request
        elapsed = time.perf_counter() - ctx.started
        # ``_value_``, not ``.value``: the enum property is a Python-level call.
        outcome, reason = decision.outcome._value_, decision.reason._value_
        method = ctx.method
        client = ctx.client.name
        # The one metrics hook of the hot path: a dict lookup, two list increments.
        self.stats.observe(outcome, reason, method or NO_METHOD, client, elapsed)
        level = _LEVEL[outcome]
        lines = self.lines
        record = self.record_decision if level == "info" else None
        if lines is not None and record is None and not lines.enabled(level):
            return  # an EAP step at level info: nothing to write, nothing to record
        plan = decision.plan
        detail = detail or decision.detail or ctx.detail
        user = calling = None
        if lines is not None and request is not None and request.code == _ACCESS_REQUEST:
            # The hot path: the line's text in one go, key for key what the branch below
            # and the JSON encoder make (tests/unit/test_json_lines.py compares them).
            user_name = request.user_name
            if decision.member_email or user_name is not None:
                user = decision.member_email or (user_name or "").strip()[:254]
            if request.calling_station_id:
                calling = request.calling_station_id[:64]
            called = request.called_station_id
            nas_identifier = request.nas_identifier
            quoted = self._quoted
            lines.write_object(
                level,
                "access",
                f'{{"outcome": "{outcome}", "reason": "{reason}", "client": {quoted[client]}, '
                f'"client_address": {quoted[ctx.address]}, "duration_ms": {_millis(elapsed)}, '
                f'"request_id": "{self._id_prefix}-{next(self._ids)}"'
                f"{f', {_METHOD}{quoted[method]}' if method else ''}"
                f"{f', {_PLAN}{json_text(plan)}' if plan is not None else ''}"
                f"{f', {_DETAIL}{json_text(detail)}' if detail else ''}"
                f', "packet": "access-request", "identifier": {request.identifier}'
                f"{f', {_USER}{_string(user)}' if user is not None else ''}"
                f"{f', {_CALLING}{_string(calling)}' if calling else ''}"
                f"{f', {_CALLED}{quoted[called[:64]]}' if called else ''}"
                f"{f', {_NAS_IDENTIFIER}{quoted[nas_identifier[:64]]}' if nas_identifier else ''}",
            )
        else:
            fields: dict[str, Any] = {
                "outcome": outcome,
                "reason": reason,
                "client": client,
                "client_address": ctx.address,
                "duration_ms": round(elapsed * 1000, 3),
                "request_id": f"{self._id_prefix}-{next(self._ids)}",
            }
            if method:
                fields["method"] = method
            if plan is not None:
                fields["plan"] = plan
            if detail:
                fields["detail"] = detail
            event = "access"
            if request is not None:
                code = request.code
                fields["packet"] = _CODE_NAMES.get(code) or str(code)
                fields["identifier"] = request.identifier
                user_name = request.user_name
                if decision.member_email or user_name is not None:
                    user = fields["user"] = decision.member_email or (user_name or "").strip()[:254]
                if request.calling_station_id:
                    calling = fields["calling_station"] = request.calling_station_id[:64]
                if request.called_station_id:
                    fields["called_station"] = request.called_station_id[:64]
                if request.nas_identifier:
                    fields["nas_identifier"] = request.nas_identifier[:64]
                if code == _ACCOUNTING_REQUEST:
                    event = "accounting"
                    self._accounting_fields(fields, request, ctx.record, stored)
                elif code != _ACCESS_REQUEST:
                    record = None
            else:
                record = None
            if lines is not None:
                lines.write(level, event, fields)
            else:
                getattr(self.log, level)(event, **fields)
        if record is not None:
            # One tuple (rules/decision_log.Entry); cleaned and written off the hot path.
            record(
                (
                    self.clock(),
                    user,
                    client,
                    calling,
                    method,
                    outcome,
                    reason,
                    plan,
                )
            )

    @staticmethod
    def _accounting_fields(
        fields: dict[str, Any],
        request: RadiusRequest,
        record: AccountingRecord | None,
        stored: str | None,
    ) -> None:
        """What the ``accounting`` line adds: the status, the session and the record."""
        if request.acct_status_type is not None:
            fields["status_type"] = _ACCT_STATUS.get(
                request.acct_status_type, str(request.acct_status_type)
            )
        if request.acct_session_id:
            fields["session_id"] = request.acct_session_id[:64]
        if record is not None:
            if stored:
                fields["stored"] = stored
            if record.member_email:
                fields["member"] = record.member_email
            for name in _ACCT_FIELDS:
                value = getattr(record, name)
                if value is not None:
                    fields[name] = value


class _Memo(dict[_K, _V]):
    """A pure function's results by argument, bounded: forgotten all at once when full.

    Reading one is a dict read (``memo[key]``); the function runs on a miss only.
    """

    __slots__ = ("function", "limit")

    def __init__(self, function: Callable[[_K], _V], limit: int = 65536) -> None:
        super().__init__()
        self.function = function
        self.limit = limit

    def __missing__(self, key: _K) -> _V:
        if len(self) >= self.limit:
            self.clear()  # a flood of made-up station ids must not grow memory
        value = self[key] = self.function(key)
        return value


class _Verify:
    """``methods.Verify``: the one place a PIN is judged, for every method and inner method.

    One per engine, pointed at each request before its handler runs: the engine is
    synchronous and a handler uses ``verify`` only inside its ``handle`` call, so the
    hot path allocates nothing for it.
    """

    __slots__ = ("client", "engine", "places", "request", "stations", "token_at", "tokens")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # normalize_station and location_key of what the wire sends, remembered: a
        # dict read costs less than their lru_cache's bookkeeping.
        self.stations: _Memo[str | None, str | None] = _Memo(normalize_station)
        self.places: _Memo[tuple[str, str | None], str] = _Memo(lambda key: location_key(*key))
        self.request: RadiusRequest | None = None
        self.client: Client | None = None
        # Random octets for the accepts' Class tokens, drawn TOKEN_POOL at a time:
        # one system call per TOKEN_POOL / TOKEN_SIZE attempts instead of one each.
        self.tokens = b""
        self.token_at = TOKEN_POOL  # empty: the first attempt draws

    def __call__(
        self, user_name: str, check: policy.PinCheck, offered: bytes | None = None
    ) -> tuple[Decision, Any]:
        """Judge with ``policy.judge`` and apply what it says to count through the guard.

        ``check(pin)`` knows how the method proves the PIN and returns its proof;
        returns (decision, proof), the proof only with an accept.
        """
        engine = self.engine
        directory = engine.directory
        member = directory.members.get(user_name)
        now = engine.clock()
        request = self.request
        client = self.client
        assert request is not None and client is not None
        # Wire identities are made storable here, where they enter guessing protection
        # and the device count.
        device = self.stations[request.calling_station_id]
        online = engine.online
        stations: Collection[str] = ()
        token = None
        plan = None
        location = None
        if member is not None:
            user = member.email
            # The member's plan (their own, else the default) and where the NAS stands.
            plan = directory.plans.for_member(member.plan_id)
            if client.location_id is not None:
                location = directory.locations.get(client.location_id)
            if online is not None:
                stations = online.stations(member.id, now)
            # The accept's Class token, drawn only when an accept is possible at all.
            at = self.token_at
            if at >= TOKEN_POOL:
                self.tokens = engine.token(TOKEN_POOL)
                at = 0
            self.token_at = at + TOKEN_SIZE
            token = self.tokens[at : at + TOKEN_SIZE]
        guard = engine.guard
        block = None
        place = ""
        if guard is not None:
            if member is None:
                user = identity_key(user_name)
            place = self.places[client.name, request.called_station_id]
            block = guard.gate(user, device, now, place)
        # In judge's order: rules, station, online, token, plan, client, location.
        decision, tally, proof = policy.judge(
            member,
            check,
            now,
            block,
            engine.options.stale_pin_seconds,
            engine.session_rules,
            device,
            stations,
            token,
            plan,
            client,
            location,
        )
        if tally is _SUCCESS:
            assert member is not None
            if online is not None:
                online.accepted(member.id, device, now)
            if guard is not None:
                guard.succeeded(user, device, now)
        elif tally is _FAILURE and guard is not None:
            mark = guard.fingerprint(user, offered) if offered is not None else None
            guard.failed(user, device, mark, now, place)
        return decision, proof

    def refuse(self, user_name: str, reason: Reason) -> Decision:
        """A reject no PIN check made, naming the member if known; nothing is counted."""
        return policy.reject(reason, self.engine.directory.members.get(user_name))


# The canonical line's optional keys, as the JSON encoder writes them (Engine._log).
_METHOD = '"method": '
_PLAN = '"plan": '
_DETAIL = '"detail": '
_USER = '"user": '
_CALLING = '"calling_station": '
_CALLED = '"called_station": '
_NAS_IDENTIFIER = '"nas_identifier": '
_string = json_string


def _millis(seconds: float) -> str:
    """``repr(round(seconds * 1000, 3))``, the line's duration_ms, at half the cost.

    Both round the exact binary value to 3 decimals (CPython's dtoa, half-even); the
    float nearest those digits prints as the digits themselves, without trailing zeros.
    """
    text = f"{seconds * 1000:.3f}".rstrip("0")
    return text + "0" if text[-1] == "." else text


# Computed once: building an IntEnum per request showed up in profiles.
_CODE_NAMES = {int(code): code.name.lower().replace("_", "-") for code in c.Code}
