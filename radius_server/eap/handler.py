"""The engine's "eap" method: EAP over RADIUS (RFC 3579) for PEAPv0 and EAP-TTLS.

Per request: decode the joined EAP-Message, find the conversation by State,
advance it, and answer Access-Challenge (fresh State, EAP-Request split into
253-octet EAP-Message attributes), Access-Accept (EAP-Success, MS-MPPE keys
from the TLS session, the member's email as User-Name) or Access-Reject
(EAP-Failure). The PIN is judged only by the engine's ``verify``, called by
the inner method with the inner identity, the member's email.

Every reply must fit in 4096 octets beside the request's Proxy-State, which is
echoed (RFC 2865 5.33): a chain of proxies can take most of the packet, and every
EAP-Request must fit the link to the device, which the NAS tells in Framed-MTU
(RFC 3579 2.2, RFC 3580 3.10). So each request's TLS fragments are sized to the
smallest of eap_fragment_size, the Framed-MTU and the room left, and a conversation is only
advanced when a useful fragment fits; a reply is checked to fit before its State
is issued, so a retransmission never meets a State we renewed for nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from radius_server.eap import codec
from radius_server.eap.codec import EapCode, EapError, EapPacket, EapType
from radius_server.eap.conversation import (
    TUNNEL_TYPES,
    TUNNELS_BY_NAME,
    Conversation,
    SessionLimitError,
)
from radius_server.eap.framing import FramingError, decode_frame
from radius_server.eap.resumption import FastReconnect, MemberLookup, ResumptionTable
from radius_server.eap.sessions import STATE_LENGTH, SessionTable
from radius_server.eap.steps import Finish, Phase2Error, Step
from radius_server.eap.tls import TlsError, TlsServer
from radius_server.protocol import codes as c
from radius_server.protocol.attributes import (
    eap_message_attributes,
    eap_message_room,
    ms_mppe_key_attributes,
)
from radius_server.protocol.packet import Attribute, RadiusRequest
from radius_server.protocol.reply import ACCESS_REPLY_ROOM, attributes_size, reply_room
from radius_server.rules.decision import Decision, Outcome, Reason, drop
from radius_server.rules.directory import Client, Directory
from radius_server.rules.methods import MethodResult, Verify
from radius_server.rules.ratelimit import LogThrottle

# RFC 3579 2.6.5: no Reply-Message alongside EAP-Message; EAP carries its own result.
_NOT_WITH_EAP = frozenset({c.REPLY_MESSAGE})
_MAX_OUTER_IDENTITY = 128
# The smallest TLS fragment worth a round trip (eap_fragment_size's lower bound): below
# it a handshake would need more rounds than a conversation may take.
MIN_FRAGMENT = 200
# Around each fragment: EAP Code, Identifier, Length, Type (RFC 3748 4), then Flags and
# TLS Message Length (RFC 5216 3.1).
_REQUEST_OVERHEAD = 5 + 5
# A Framed-MTU that leaves less than MIN_FRAGMENT is taken as this much: below it a
# conversation would run out of rounds (FreeRADIUS ignores one of 100 or less).
_MIN_MTU = MIN_FRAGMENT + _REQUEST_OVERHEAD
_NO_MTU = 1 << 16  # no Framed-MTU: no bound from it
_STATE_SIZE = 2 + STATE_LENGTH
# Module constants for the Access-Challenge built every round.
_STATE = c.STATE
_CHALLENGE = Outcome.CHALLENGE
_EAP_CHALLENGE = Reason.EAP_CHALLENGE


@dataclass(frozen=True, slots=True)
class EapOptions:
    """Tunables (from Settings)."""

    default_method: str = "peap"
    # TLS octets per EAP-Request at most: 1390 makes 1400-octet EAP packets, the
    # Framed-MTU hostapd and eapol_test announce; a smaller Framed-MTU lowers it.
    fragment_size: int = 1390
    session_timeout: float = 60.0
    max_sessions: int = 2048
    max_per_station: int = 4
    # A full table evicts its idlest conversation once idle this long (seconds).
    min_idle: float = 2.0
    # Fast reconnect: TLS sessions remembered for skipping the inner method, at most
    # this many (the oldest go first); each lives as long as the TlsServer's sessions.
    max_resumable: int = 10000


class EapHandler:
    """PEAP and TTLS conversations held in memory between Access-Challenges."""

    def __init__(
        self,
        tls: TlsServer,
        options: EapOptions | None = None,
        log: Any = None,
        directory: Directory | None = None,
    ) -> None:
        """``directory``: the view fast reconnect checks a resumed session's member against
        (None: a resumed TLS session still runs the inner method)."""
        self.tls = tls
        self.options = options or EapOptions()
        self.default_type = TUNNELS_BY_NAME[self.options.default_method].eap_type
        options = self.options
        self.sessions: SessionTable[Conversation] = SessionTable(
            options.max_sessions, options.session_timeout, options.max_per_station, options.min_idle
        )
        self.log = log
        # The served certificate's notAfter (eap/setup.py sets it), for /metrics and /readyz.
        self.certificate_expires: datetime | None = None
        # A flood evicts many conversations: one warning per interval says how many.
        self._evictions_log = LogThrottle(10.0)
        # Station -> the tunnel method it last signed in with, when not the default: a
        # returning device is offered its own method first, without a Nak round.
        self._methods = MethodMemory(options.max_resumable)
        self.reconnect: FastReconnect | None = None
        if directory is not None and tls.session_lifetime > 0:
            table = ResumptionTable(options.max_resumable, tls.session_lifetime)
            self.reconnect = FastReconnect(table, lambda: _members(directory))

    def handle(
        self, request: RadiusRequest, client: Client, verify: Verify, now: float
    ) -> MethodResult:
        """Advance the conversation this request belongs to (or start one)."""
        expired = self.sessions.expire(now)
        if expired and self.log is not None:
            self.log.info("eap_sessions_expired", count=expired, open=len(self.sessions))
        if not request.eap_message:
            # RFC 3579 2.1 EAP-Start: ask who it is; the answer starts a conversation.
            identity_request = codec.encode_eap(
                EapCode.REQUEST, secrets.randbelow(256), EapType.IDENTITY
            )
            return _challenge_result(None, identity_request, "eap", "eap_start")
        try:
            packet = codec.decode_eap(request.eap_message)
        except EapError as exc:
            return MethodResult(drop(Reason.MALFORMED), method="eap", detail=str(exc))
        if packet.code != EapCode.RESPONSE:
            return MethodResult(
                drop(Reason.EAP_PROTOCOL_ERROR), method="eap", detail="not_a_response"
            )
        if request.proxy_states:
            room = reply_room(request, c.Code.ACCESS_CHALLENGE)
            fragment = min(self.options.fragment_size, _fragment_room(room))
        else:
            # Nothing to echo (the common case): the room is the same for every request.
            room, fragment = ACCESS_REPLY_ROOM, min(self.options.fragment_size, _CHALLENGE_FRAGMENT)
        fragment = min(fragment, _mtu_fragment(request))
        conversation = None if request.state is None else self.sessions.get(request.state, now)
        if fragment < MIN_FRAGMENT:
            if conversation is not None:
                self.sessions.remove(conversation)
            label = "eap" if conversation is None else conversation.label
            return _failure(
                Decision(Outcome.REJECT, Reason.REPLY_TOO_LARGE), packet, label, "proxy_state"
            )
        if request.state is None:
            return self._begin(request, client, packet, now, room)
        if conversation is None:
            return _failure(Decision(Outcome.REJECT, Reason.EAP_UNKNOWN_STATE), packet, "eap")
        if packet.identifier != conversation.last_id:
            # RFC 3748 4.1: a response to another request is silently discarded.
            return MethodResult(
                drop(Reason.EAP_PROTOCOL_ERROR),
                method=conversation.label,
                detail="identifier_mismatch",
            )
        try:
            step = self._advance(conversation, packet, verify, fragment, now)
        except SessionLimitError as exc:
            self.sessions.remove(conversation)
            return MethodResult(
                drop(Reason.EAP_SESSION_LIMIT), method=conversation.label, detail=str(exc)
            )
        except (FramingError, Phase2Error) as exc:
            self.sessions.remove(conversation)
            return _failure(
                Decision(Outcome.REJECT, Reason.EAP_PROTOCOL_ERROR),
                packet,
                conversation.label,
                str(exc),
            )
        except TlsError as exc:
            self.sessions.remove(conversation)
            return _failure(
                Decision(Outcome.REJECT, Reason.EAP_TLS_FAILED),
                packet,
                conversation.label,
                str(exc),
            )
        if isinstance(step, Finish):
            self.sessions.remove(conversation)
            if step.decision.outcome is Outcome.ACCEPT:
                self._methods.remember(
                    conversation.station, conversation.eap_type, self.default_type
                )
            return self._finish(conversation, step, packet, request, client)
        return self._challenge(conversation, step.data, now, room, packet)

    def _begin(
        self, request: RadiusRequest, client: Client, packet: EapPacket, now: float, room: int
    ) -> MethodResult:
        if packet.type != EapType.IDENTITY:
            return _failure(
                Decision(Outcome.REJECT, Reason.EAP_PROTOCOL_ERROR), packet, "eap", "no_identity"
            )
        outer = packet.data.decode("utf-8", "replace").strip()[:_MAX_OUTER_IDENTITY]
        station = f"{client.name}|{request.calling_station_id or outer}"
        eap_type = self._methods.get(station, self.default_type)
        conversation = Conversation(
            eap_type, outer, station, codec.next_identifier(packet.identifier)
        )
        evicted = self.sessions.evicted
        if not self.sessions.add(conversation, now):
            return MethodResult(
                drop(Reason.EAP_SESSION_LIMIT), method="eap", detail="too_many_sessions"
            )
        if self.sessions.evicted != evicted and self.log is not None:
            suppressed = self._evictions_log.admit("evicted", now)
            if suppressed is not None:
                self.log.warning(
                    "eap_session_evicted",
                    reason=Reason.EAP_SESSION_LIMIT.value,
                    open=len(self.sessions),
                    evicted_total=self.sessions.evicted,
                    suppressed=suppressed,
                )
        start = conversation.start().data
        return self._challenge(conversation, start, now, room, packet, renew=False)

    def _advance(
        self,
        conversation: Conversation,
        packet: EapPacket,
        verify: Verify,
        fragment: int,
        now: float,
    ) -> Step:
        next_id = codec.next_identifier(packet.identifier)
        if packet.type == EapType.NAK and not conversation.tls_started:
            # RFC 3748 5.3.1: follow the peer to the other tunnel method if it wants one.
            for wanted in codec.nak_types(packet.data):
                if wanted in TUNNEL_TYPES and wanted != conversation.eap_type:
                    return conversation.switch(wanted)
            return Finish(Decision(Outcome.REJECT, Reason.EAP_NO_COMMON_METHOD))
        if packet.type != conversation.eap_type:
            raise FramingError(f"EAP type {packet.type} in a {conversation.label} conversation")
        frame = decode_frame(packet.data)
        return conversation.step(frame, verify, self.tls, fragment, next_id, self.reconnect, now)

    def _challenge(
        self,
        conversation: Conversation,
        type_data: bytes,
        now: float,
        room: int,
        packet: EapPacket,
        renew: bool = True,
    ) -> MethodResult:
        identifier = codec.next_identifier(conversation.last_id) if renew else conversation.last_id
        eap_packet = codec.encode_eap(EapCode.REQUEST, identifier, conversation.eap_type, type_data)
        eap_attributes = eap_message_attributes(eap_packet)
        # attributes_size(eap_attributes), unsummed: the packet plus a header per piece.
        if _STATE_SIZE + len(eap_packet) + 2 * len(eap_attributes) > room:
            # Fragments are sized to fit, so this is a guard: no State for a reply never sent.
            self.sessions.remove(conversation)
            return _failure(
                Decision(Outcome.REJECT, Reason.REPLY_TOO_LARGE), packet, conversation.label
            )
        conversation.last_id = identifier
        state = self.sessions.renew(conversation, now) if renew else conversation.state
        return _challenge_result(
            state, eap_packet, conversation.label, _stage(conversation), eap_attributes
        )

    def _finish(
        self,
        conversation: Conversation,
        step: Finish,
        packet: EapPacket,
        request: RadiusRequest,
        client: Client,
    ) -> MethodResult:
        decision = step.decision
        detail = f"outer={conversation.outer_identity} tls={conversation.tls_version or '-'}"
        if conversation.resumed:
            # Fast reconnect: "true" when the inner method was skipped, "tls" when it ran.
            detail += f" resumed={conversation.resumed}"
        inner = conversation.phase2.identity if conversation.phase2 is not None else None
        if inner and not decision.member_email:
            # No member matched: the log's user is the outer identity, so say who was tried.
            detail += f" inner={inner[:128]}"
        if decision.outcome is Outcome.DROP:
            # e.g. storage unavailable: let the NAS retry or fail over.
            return MethodResult(decision, method=conversation.label, detail=detail)
        if decision.outcome is not Outcome.ACCEPT or step.msk is None:
            return _failure(decision, packet, conversation.label, detail)
        msk = step.msk
        extra: list[Attribute] = []
        if decision.member_email:
            # The NAS then accounts the session under the member, not "anonymous".
            extra.append((c.USER_NAME, decision.member_email.encode("utf-8")))
        # RFC 5216 2.3: Recv-Key = MSK[0:32], Send-Key = MSK[32:64].
        extra += ms_mppe_key_attributes(msk[32:64], msk[0:32], client.secret, request.authenticator)
        extra += eap_message_attributes(codec.success(packet.identifier))
        accepted = _merge(decision, extra)
        if attributes_size(accepted.attributes) > reply_room(request, c.Code.ACCESS_ACCEPT):
            refused = Decision(
                Outcome.REJECT, Reason.REPLY_TOO_LARGE, member_email=decision.member_email
            )
            return _failure(refused, packet, conversation.label, f"{detail} proxy_state")
        return MethodResult(accepted, method=conversation.label, detail=detail)


class MethodMemory:
    """The tunnel method each station last signed in with, when not the default; bounded.

    RFC 3748 5.3.1 lets the server propose any method and the peer Nak it: proposing
    a returning device's own method saves the Nak round (TTLS 6 rounds to 5, a
    resumed TTLS 4 to 3). A device that changed method still Naks, as any other.
    """

    __slots__ = ("_by_station", "_limit")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._by_station: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_station)

    def get(self, station: str, default: int) -> int:
        """The method to propose first to ``station``."""
        return self._by_station.get(station, default)

    def remember(self, station: str, eap_type: int, default: int) -> None:
        """``station`` signed in with ``eap_type``; the oldest entries go past the limit."""
        by_station = self._by_station
        by_station.pop(station, None)
        if eap_type == default:
            return
        by_station[station] = eap_type  # dicts keep insertion order: the newest last
        if len(by_station) > self._limit:
            del by_station[next(iter(by_station))]


def _members(directory: Directory) -> MemberLookup:
    return directory.members


def _fragment_room(room: int) -> int:
    """TLS octets per EAP-Request that fit in an Access-Challenge with ``room`` octets.

    ``room`` is what the reply has left beside its Message-Authenticator and the
    echoed Proxy-State; the State and the EAP-Request's own header come out of it.
    """
    return eap_message_room(room - _STATE_SIZE) - _REQUEST_OVERHEAD


# TLS octets per Access-Challenge fragment when the request has no Proxy-State to
# echo: the same for every such request, so computed once.
_CHALLENGE_FRAGMENT = _fragment_room(ACCESS_REPLY_ROOM)


def _mtu_fragment(request: RadiusRequest) -> int:
    """TLS octets per EAP-Request that fit the NAS's Framed-MTU (RFC 3579 2.2).

    The Framed-MTU is the largest EAP packet the NAS can pass to the device; without
    one, only eap_fragment_size bounds the fragment.
    """
    value = request.get(c.FRAMED_MTU)
    if value is None or len(value) != 4:
        return _NO_MTU
    return max(int.from_bytes(value, "big"), _MIN_MTU) - _REQUEST_OVERHEAD


def _stage(conversation: Conversation) -> str:
    if conversation.tunnel is None:
        return "start"
    return "phase2" if conversation.tunnel.established else "handshake"


def _merge(decision: Decision, extra: list[Attribute]) -> Decision:
    kept = tuple(a for a in decision.attributes if a[0] not in _NOT_WITH_EAP)
    return decision.replace(attributes=(*kept, *extra))


def _challenge_result(
    state: bytes | None,
    eap_packet: bytes,
    label: str,
    detail: str,
    eap_attributes: list[Attribute] | None = None,
) -> MethodResult:
    """Access-Challenge with State and the EAP-Request (``eap_attributes``: already split)."""
    pieces = eap_attributes or eap_message_attributes(eap_packet)
    attributes = tuple(pieces) if state is None else ((_STATE, state), *pieces)
    return MethodResult(Decision(_CHALLENGE, _EAP_CHALLENGE, attributes), label, detail)


def _failure(
    decision: Decision, packet: EapPacket, label: str, detail: str | None = None
) -> MethodResult:
    """Access-Reject with EAP-Failure, answering the peer's Identifier (RFC 3748 4.2)."""
    if decision.outcome is not Outcome.REJECT:
        decision = decision.replace(outcome=Outcome.REJECT, attributes=())
    merged = _merge(decision, eap_message_attributes(codec.failure(packet.identifier)))
    return MethodResult(merged, method=label, detail=detail)
