"""One PEAP or TTLS conversation: Start, Nak, TLS records in fragments, then phase 2.

The TLS connection is created only when the ClientHello arrives, so a
conversation that never gets past its identity costs a few hundred bytes.
Each conversation bounds its own size: the peer's reassembled TLS message and
the number of rounds.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from radius_server.eap import peap, ttls
from radius_server.eap.codec import EapType
from radius_server.eap.framing import (
    FLAG_START,
    FramingError,
    Outgoing,
    Reassembly,
    TlsFrame,
    encode_frame,
)
from radius_server.eap.peap import PeapPhase2
from radius_server.eap.resumption import Binding, proven_by_resumption, still_valid
from radius_server.eap.steps import Finish, Send, Step
from radius_server.eap.tls import TlsServer, TlsTunnel
from radius_server.eap.ttls import TtlsPhase2
from radius_server.rules.decision import Decision, Outcome, Reason
from radius_server.rules.directory import Member
from radius_server.rules.methods import Verify

# Largest TLS message we reassemble from a peer: no client certificates here, so a
# ClientHello (even with post-quantum key shares) and phase-2 data stay far below.
MAX_PEER_MESSAGE = 16384
# Rounds in one conversation: a full PEAP with small fragments needs about 20.
MAX_ROUNDS = 64
# We speak PEAPv0 and TTLSv0: version bits 0 in every request.
VERSION = 0


class Phase2(Protocol):
    """The inner conversation of a tunnel method (``peap.PeapPhase2``, ``ttls.TtlsPhase2``)."""

    label: str
    identity: str | None

    def on_empty(self, next_id: int) -> Step:
        """The peer sent an empty message (a handshake end, or an acknowledgement)."""
        ...

    def on_data(self, plaintext: bytes, verify: Verify, next_id: int) -> Step:
        """One decrypted message from the peer."""
        ...

    def on_resumed(self, decision: Decision, identity: str, next_id: int) -> Step:
        """Fast reconnect: the resumed session proved the member, judged ``decision`` (accept)."""
        ...

    def on_unbound(self) -> Step | None:
        """A resumed session this server cannot vouch for: None runs the inner method."""
        ...


class Reconnect(Protocol):
    """What a conversation needs for fast reconnect (``resumption.FastReconnect``)."""

    def resume(self, key: bytes, eap_type: int, now: float) -> tuple[Binding, Member | None] | None:
        """The binding of a resumed session and its member now, or None (no binding)."""
        ...

    def remember(self, keys: list[bytes], email: str, eap_type: int, now: float) -> None:
        """Bind the sessions of an accepted conversation to the member signed in."""
        ...


@dataclass(frozen=True, slots=True)
class TunnelMethod:
    """A tunnel EAP method: what differs between PEAP and TTLS, registered once."""

    name: str  # for the log and the eap_default_method setting
    eap_type: int
    tls12_key_label: bytes  # the MSK's exporter label under TLS 1.2
    new_phase2: Callable[[TlsTunnel], Phase2]


def _ttls_phase2(tunnel: TlsTunnel) -> Phase2:
    # Inner MS-CHAPv2's implicit challenge: the keying-material export of the session.
    return TtlsPhase2(lambda: tunnel.export(ttls.CHALLENGE_LABEL, 17))


TUNNELS: dict[int, TunnelMethod] = {
    EapType.PEAP: TunnelMethod("peap", EapType.PEAP, peap.TLS12_KEY_LABEL, lambda _: PeapPhase2()),
    EapType.TTLS: TunnelMethod("ttls", EapType.TTLS, ttls.TLS12_KEY_LABEL, _ttls_phase2),
}
TUNNEL_TYPES = tuple(TUNNELS)
TUNNELS_BY_NAME = {method.name: method for method in TUNNELS.values()}


class SessionLimitError(Exception):
    """The conversation went past its round bound."""


class Conversation:
    """State of one PEAP/TTLS authentication between two RADIUS round trips."""

    __slots__ = (
        "eap_type",
        "last_id",
        "outer_identity",
        "outgoing",
        "phase2",
        "reassembly",
        "resumed",
        "rounds",
        "state",
        "station",
        "touched",
        "tunnel",
    )

    def __init__(self, eap_type: int, outer_identity: str, station: str, last_id: int) -> None:
        self.eap_type = eap_type
        self.outer_identity = outer_identity
        self.station = station
        self.last_id = last_id  # the Identifier of the request we are waiting to be answered
        self.state = b""
        self.touched = 0.0
        self.rounds = 0
        self.tunnel: TlsTunnel | None = None
        self.reassembly = Reassembly(MAX_PEER_MESSAGE)
        self.outgoing: Outgoing | None = None
        self.phase2: Phase2 | None = None
        # Fast reconnect, for the log: "" (full handshake), "tls" (TLS resumed, the
        # inner method ran) or "true" (resumed, inner method skipped).
        self.resumed = ""

    @property
    def label(self) -> str:
        """Method label for the log: ``peap``/``ttls``, then the inner method once known."""
        if self.phase2 is not None and self.phase2.label not in ("ttls",):
            return self.phase2.label
        method = TUNNELS.get(self.eap_type)
        return method.name if method is not None else "eap"

    @property
    def tls_version(self) -> str | None:
        """``TLSv1.2``/``TLSv1.3`` once the handshake is done."""
        return self.tunnel.version if self.tunnel and self.tunnel.established else None

    @property
    def tls_started(self) -> bool:
        """True once the peer has sent TLS data; from then on a Nak is too late."""
        return self.tunnel is not None or self.reassembly.in_progress

    def start(self) -> Send:
        """The Start request (RFC 5216 3.2: S set, no data)."""
        return Send(encode_frame(FLAG_START | VERSION))

    def switch(self, eap_type: int) -> Send:
        """Follow the peer's Nak to the other tunnel method; send its Start."""
        self.eap_type = eap_type
        return self.start()

    def step(
        self,
        frame: TlsFrame,
        verify: Verify,
        server: TlsServer,
        size: int,
        next_id: int,
        reconnect: Reconnect | None = None,
        now: float = 0.0,
    ) -> Step:
        """Advance on one response of our type.

        ``reconnect``: fast reconnect (None: a resumed session still runs the inner
        method); ``now``: monotonic seconds, for its bindings' lifetime.

        Raises:
            FramingError, TlsError, Phase2Error: the peer broke a rule; end it.
            SessionLimitError: too many rounds.
        """
        self.rounds += 1
        if self.rounds > MAX_ROUNDS:
            raise SessionLimitError("too many rounds")
        if self.outgoing is not None:
            # RFC 5216 2.1.5: while we send fragments, the peer only acknowledges.
            if not frame.is_ack:
                raise FramingError("data while our fragments were pending")
            return self._next_fragment(size)
        message = self.reassembly.add(frame)
        if message is None:
            return Send(encode_frame(VERSION))  # acknowledge the peer's fragment
        if self.tunnel is None:
            if not message:
                raise FramingError("no ClientHello")
            self.tunnel = server.new_tunnel()
        tunnel = self.tunnel
        was_established = tunnel.established
        tunnel.receive(message)
        if not tunnel.established:
            return self._send_records(size)
        if not was_established:
            self.phase2 = TUNNELS[self.eap_type].new_phase2(tunnel)
            if tunnel.resumed:
                self.resumed = "tls"
                fast = self._fast_reconnect(verify, reconnect, now, next_id)
                if fast is not None:
                    return self._after_phase2(fast, size, reconnect, now)
            if not tunnel.is_tls13 and not tunnel.resumed:
                # TLS 1.2: this message was the peer's Finished; ours goes out alone
                # and phase 2 starts on the peer's next message (docs/architecture.md).
                # A resumed handshake sent our Finished first: phase 2 starts now
                # (MS-PEAP 3.3.7.1 step 2; a supplicant treats an empty request there
                # as the end of a fast reconnect).
                return self._send_records(size)
        assert self.phase2 is not None
        data = tunnel.read()
        if data:
            result = self.phase2.on_data(data, verify, next_id)
        else:
            result = self.phase2.on_empty(next_id)
        return self._after_phase2(result, size, reconnect, now)

    def _fast_reconnect(
        self, verify: Verify, reconnect: Reconnect | None, now: float, next_id: int
    ) -> Step | None:
        """Judge a resumed session by what it proved; None: run the inner method instead.

        The member is judged by the engine's ``verify`` like any sign-in (lockouts,
        status, plan, hours, location, device limit), with the PIN proven when the
        session was made as the credential: still the member's PIN, the inner method
        is skipped; changed since, the device holds an old PIN (``stale_pin``); the
        member removed, ``unknown_user``.
        """
        assert self.tunnel is not None and self.phase2 is not None
        key = self.tunnel.resumed_key
        found = None
        if reconnect is not None and key is not None:
            found = reconnect.resume(key, self.eap_type, now)
        if found is None:
            return self.phase2.on_unbound()
        binding, member = found
        if member is None:
            # Removed since: refused as a sign-in of an unknown email would be.
            self.resumed = "true"
            return Finish(verify.refuse(binding.email, Reason.UNKNOWN_USER))
        valid = still_valid(binding, member)
        if not valid and hmac.compare_digest(member.pin, binding.pin):
            # The same PIN set again (a new PIN version): no longer this session's to
            # vouch for, but not wrong either; as without a binding.
            return self.phase2.on_unbound()
        self.resumed = "true"
        decision, _ = verify(member.email, proven_by_resumption(binding))
        self.phase2.identity = member.email
        if decision.outcome is not Outcome.ACCEPT or not valid:
            # A changed PIN cannot pass: the old one is stale_pin (or wrong_pin).
            return Finish(decision)
        return self.phase2.on_resumed(decision, member.email, next_id)

    def _after_phase2(
        self, result: Step, size: int, reconnect: Reconnect | None = None, now: float = 0.0
    ) -> Step:
        assert self.tunnel is not None
        if isinstance(result, Finish):
            msk = None
            decision = result.decision
            if decision.outcome is Outcome.ACCEPT:
                label = TUNNELS[self.eap_type].tls12_key_label
                # A resumed session's keys are derived from it all the same (RFC 5216 2.3).
                msk = self.tunnel.msk(label, self.eap_type)
                if reconnect is not None and decision.member_email and self.tunnel.session_keys:
                    self.tunnel.keep_session()
                    reconnect.remember(
                        self.tunnel.session_keys, decision.member_email, self.eap_type, now
                    )
            return Finish(decision, msk)
        if result.data:
            self.tunnel.write(result.data)
        return self._send_records(size)

    def _send_records(self, size: int) -> Send:
        assert self.tunnel is not None
        records = self.tunnel.take_output()
        if not records:
            return Send(encode_frame(VERSION))
        self.outgoing = Outgoing(records)
        return self._next_fragment(size)

    def _next_fragment(self, size: int) -> Send:
        assert self.outgoing is not None
        type_data = self.outgoing.next_fragment(VERSION, size)
        if self.outgoing.done:
            self.outgoing = None
        return Send(type_data)
