"""Fast reconnect: the bindings of resumed TLS sessions, and resumption in the TLS server.

The table and its checks are pure; the TLS part drives ``TlsServer`` with a pyOpenSSL
client over memory, as a supplicant keeping its session would (eapol_test -r proves the
real thing in tests/integration/test_eap_resumption.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time

import pytest
from OpenSSL import SSL
from OpenSSL._util import lib as _ssl_lib

from radius_server.config import ConfigError, load_settings
from radius_server.eap import tls as tls_module
from radius_server.eap.certificates import generate
from radius_server.eap.codec import EapCode, EapType, decode_eap
from radius_server.eap.handler import EapHandler, EapOptions
from radius_server.eap.resumption import (
    FastReconnect,
    ResumptionTable,
    proven_by_resumption,
    session_key,
    still_valid,
)
from radius_server.eap.tls import TlsError, TlsServer, TlsTunnel
from radius_server.protocol import codes as c
from radius_server.protocol.salt import salt_decrypt
from radius_server.rules import policy
from radius_server.rules.directory import Members
from radius_server.rules.throttle import Block, Scope
from tests.unit.eap_peer import Peer, converse
from tests.unit.eap_support import EMAIL, SECRET, make_engine, member

PEAP, TTLS = EapType.PEAP, EapType.TTLS
KEY, OTHER_KEY = session_key(b"a" * 48), session_key(b"b" * 48)


def _members(*people) -> Members:
    members = Members()
    members.replace_all(people)
    return members


# -- the table --------------------------------------------------------------------------


def test_a_binding_is_found_in_its_method_until_its_lifetime_ends() -> None:
    table = ResumptionTable(10, lifetime=60.0)
    table.remember([KEY], member(), PEAP, now=100.0)
    found = table.find(KEY, PEAP, now=159.0)
    assert found is not None and found.member_id == 1 and found.email == member().email
    # A PEAP session does not skip a TTLS inner method.
    assert table.find(KEY, TTLS, now=159.0) is None
    assert table.find(OTHER_KEY, PEAP, now=159.0) is None
    assert table.find(KEY, PEAP, now=160.0) is None
    assert len(table) == 0


def test_the_table_keeps_at_most_max_entries_the_oldest_go_first() -> None:
    table = ResumptionTable(2, lifetime=60.0)
    keys = [session_key(bytes((n,)) * 48) for n in range(3)]
    for n, key in enumerate(keys):
        table.remember([key], member(), PEAP, now=float(n))
    assert len(table) == 2 and table.evicted == 1
    assert table.find(keys[0], PEAP, 3.0) is None
    assert table.find(keys[2], PEAP, 3.0) is not None


def test_expire_forgets_only_the_old() -> None:
    table = ResumptionTable(10, lifetime=10.0)
    table.remember([KEY], member(), PEAP, now=0.0)
    table.remember([OTHER_KEY], member(), PEAP, now=5.0)
    assert table.expire(now=12.0) == 1
    assert table.find(OTHER_KEY, PEAP, 12.0) is not None


def test_the_key_is_a_digest_never_the_secret() -> None:
    secret = b"s" * 48
    assert secret not in session_key(secret) and len(session_key(secret)) == 32
    assert session_key(secret) != session_key(b"t" * 48)


def test_repr_hides_the_pin() -> None:
    table = ResumptionTable(10, lifetime=10.0)
    table.remember([KEY], member(), PEAP, now=0.0)
    binding = table.find(KEY, PEAP, 1.0)
    assert member().pin.decode() not in repr(binding)


# -- still allowed? -----------------------------------------------------------------------


def test_still_valid_needs_the_same_member_pin_and_pin_version() -> None:
    ada = member()
    table = ResumptionTable(10, lifetime=60.0)
    table.remember([KEY], ada, PEAP, now=0.0)
    binding = table.find(KEY, PEAP, 1.0)
    assert binding is not None
    assert still_valid(binding, ada)
    # Disabling is not the binding's business: the judge refuses it (inactive).
    assert still_valid(binding, dataclasses.replace(ada, active=False))
    assert not still_valid(binding, None)
    assert not still_valid(binding, dataclasses.replace(ada, pin=b"99999"))
    assert not still_valid(binding, dataclasses.replace(ada, pin_changed_at=1e9))
    assert not still_valid(binding, dataclasses.replace(ada, id=2))


def test_the_check_proves_only_the_pin_of_the_session() -> None:
    ada = member()
    table = ResumptionTable(10, lifetime=60.0)
    table.remember([KEY], ada, PEAP, now=0.0)
    binding = table.find(KEY, PEAP, 1.0)
    assert binding is not None
    check = proven_by_resumption(binding)
    assert check(ada.pin) is policy.PROVEN
    assert check(b"99999") is None
    # Judged as a sign-in: a changed PIN makes the session's PIN a stale one.
    changed = dataclasses.replace(ada, pin=b"99999", previous_pin=ada.pin, pin_changed_at=5.0)
    decision, _, _ = policy.judge(changed, check, now=10.0, stale_pin_seconds=86400.0)
    assert decision.reason.value == "stale_pin"
    disabled = dataclasses.replace(ada, active=False)
    assert policy.judge(disabled, check, now=10.0)[0].reason.value == "inactive"
    assert policy.judge(ada, check, now=10.0)[0].reason.value == "ok"


def test_a_lockout_refuses_a_resumed_session_without_looking_at_it() -> None:
    """Guessing protection's gate comes first, as for a PIN typed in."""
    ada = member()
    table = ResumptionTable(10, lifetime=60.0)
    table.remember([KEY], ada, PEAP, now=0.0)
    binding = table.find(KEY, PEAP, 1.0)
    assert binding is not None
    block = Block(locked_out=True, scope=Scope.USER, key=ada.email, until=99.0)
    decision, tally, proof = policy.judge(ada, proven_by_resumption(binding), 10.0, block)
    assert (decision.reason.value, tally, proof) == ("locked_out", policy.Tally.NOTHING, None)


def test_fast_reconnect_reads_the_directory_at_each_use_and_forgets_a_changed_member() -> None:
    ada = member()
    directory = {"members": _members(ada)}
    reconnect = FastReconnect(ResumptionTable(10, 60.0), lambda: directory["members"])
    reconnect.remember([KEY], ada.email, PEAP, now=0.0)
    found = reconnect.resume(KEY, PEAP, now=1.0)
    assert found is not None and found[1] == ada
    # The PIN changes: judged once more (stale_pin), then the binding is gone.
    directory["members"] = _members(dataclasses.replace(ada, pin=b"99999", pin_changed_at=9.0))
    found = reconnect.resume(KEY, PEAP, now=2.0)
    assert found is not None and not still_valid(*found)
    assert reconnect.resume(KEY, PEAP, now=3.0) is None
    # Removed: the binding names no member any more.
    reconnect.remember([OTHER_KEY], ada.email, PEAP, now=4.0)
    directory["members"] = _members()
    found = reconnect.resume(OTHER_KEY, PEAP, now=5.0)
    assert found is not None and found[0].member_id == ada.id and found[1] is None
    assert reconnect.resume(OTHER_KEY, PEAP, now=6.0) is None


def test_nothing_is_remembered_for_an_email_not_in_the_directory() -> None:
    reconnect = FastReconnect(ResumptionTable(10, 60.0), lambda: _members())
    reconnect.remember([KEY], "nobody@example.org", PEAP, now=0.0)
    assert len(reconnect.table) == 0


# -- resumption in the TLS server ------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):
    return generate(
        tmp_path_factory.mktemp("certs"), "radius.test.lan", "T", dt.datetime.now(dt.UTC)
    )


def _client(version: str, tickets: bool) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    level = SSL.TLS1_3_VERSION if version == "1.3" else SSL.TLS1_2_VERSION
    ctx.set_min_proto_version(level)
    ctx.set_max_proto_version(level)
    if not tickets:
        # wpa_supplicant's default for PEAP and TTLS: TLS 1.2 resumes by session id.
        ctx.set_options(SSL.OP_NO_TICKET)
    return ctx


def _handshake(
    server: TlsServer, client: SSL.Context, session: SSL.Session | None = None
) -> tuple[SSL.Connection, TlsTunnel]:
    conn = SSL.Connection(client, None)
    conn.set_connect_state()
    if session is not None:
        conn.set_session(session)
    tunnel = server.new_tunnel()
    for _ in range(8):
        with contextlib.suppress(SSL.WantReadError):
            conn.do_handshake()
        try:
            records = conn.bio_read(65536)
        except SSL.WantReadError:
            records = b""
        tunnel.receive(records)
        answer = tunnel.take_output()
        if answer:
            conn.bio_write(answer)
            # Reads TLS 1.3 tickets, which arrive after the handshake.
            with contextlib.suppress(SSL.WantReadError):
                conn.recv(1024)
        if tunnel.established and not answer and not records:
            break
    assert tunnel.established
    return conn, tunnel


MODES = [("1.2", False), ("1.2", True), ("1.3", True)]
IDS = ["tls1.2-session-id", "tls1.2-ticket", "tls1.3-ticket"]


@pytest.mark.parametrize(("version", "tickets"), MODES, ids=IDS)
def test_a_session_resumes_and_names_the_key_it_was_issued_under(
    certs, version: str, tickets: bool
) -> None:
    server = TlsServer(certs.server_cert, certs.server_key, None, version, version, 3600)
    client = _client(version, tickets)
    first, full = _handshake(server, client)
    assert not full.resumed and full.resumed_key is None and full.session_keys
    full.keep_session()  # the conversation was accepted
    del full
    again, resumed = _handshake(server, client, first.get_session())
    assert resumed.resumed
    keys = {resumed.resumed_key}
    _, third = _handshake(server, client, again.get_session())
    assert third.resumed
    # The key at resumption is one the earlier handshake recorded (TLS 1.2: the master
    # secret; TLS 1.3: the PSK of a ticket it issued).
    assert keys <= set(resumed.session_keys)
    assert third.resumed_key in resumed.session_keys


@pytest.mark.parametrize("tickets", [False, True], ids=["session-id", "ticket"])
def test_tls12_notes_its_one_secret_once_at_the_end_of_the_handshake(
    certs, tickets: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS 1.2: one key (the master secret's), the same at resumption, read once per
    handshake rather than at each state change through the info callback (each secret
    seen there was read and hashed)."""
    server = TlsServer(certs.server_cert, certs.server_key, None, "1.2", "1.3", 3600)
    client = _client("1.2", tickets)
    calls = []
    digest = tls_module.session_key
    monkeypatch.setattr(tls_module, "session_key", lambda s: calls.append(1) or digest(s))
    first, full = _handshake(server, client)
    assert len(full.session_keys) == 1 and len(calls) == 1
    full.keep_session()
    _, resumed = _handshake(server, client, first.get_session())
    assert resumed.resumed and resumed.session_keys == full.session_keys
    assert resumed.resumed_key == full.session_keys[0] and len(calls) == 2


class _CountingLib:
    """The bindings, counting the info callbacks set on connections."""

    def __init__(self, lib: object) -> None:
        self._lib = lib
        self.callbacks_set = 0

    def SSL_set_info_callback(self, ssl: object, callback: object) -> None:
        self.callbacks_set += 1
        self._lib.SSL_set_info_callback(ssl, callback)

    def __getattr__(self, name: str) -> object:
        return getattr(self._lib, name)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_only_a_tls13_connection_gets_the_info_callback(
    certs, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that speaks up to TLS 1.3 (serve's default) follows a TLS 1.3 handshake's
    state changes to catch each ticket's PSK; a TLS 1.2 one is never called back (its one
    secret is read at the end), and both resume with the key they recorded."""
    counting = _CountingLib(tls_module._ssl_lib)
    monkeypatch.setattr(tls_module, "_ssl_lib", counting)
    server = TlsServer(certs.server_cert, certs.server_key, None, "1.2", "1.3", 3600)
    client = _client(version, tickets=True)
    first, full = _handshake(server, client)
    assert not full.resumed and full.session_keys
    full.keep_session()
    _, resumed = _handshake(server, client, first.get_session())
    assert resumed.resumed and resumed.resumed_key in full.session_keys
    assert counting.callbacks_set == (2 if version == "1.3" else 0)


@pytest.mark.parametrize(("version", "tickets"), MODES, ids=IDS)
def test_another_worker_cannot_resume_it_and_does_a_full_handshake(
    certs, version: str, tickets: bool
) -> None:
    """Each process has its own ticket keys and cache: a reconnect that reaches another
    --workers process (or machine) is a full handshake, not a failure."""
    worker_a = TlsServer(certs.server_cert, certs.server_key, None, version, version, 3600)
    worker_b = TlsServer(certs.server_cert, certs.server_key, None, version, version, 3600)
    client = _client(version, tickets)
    first, full = _handshake(worker_a, client)
    full.keep_session()
    _, elsewhere = _handshake(worker_b, client, first.get_session())
    assert not elsewhere.resumed and elsewhere.resumed_key is None


def test_a_refused_conversations_tls12_session_is_not_cached(certs) -> None:
    server = TlsServer(certs.server_cert, certs.server_key, None, "1.2", "1.2", 3600)
    client = _client("1.2", tickets=False)
    first, full = _handshake(server, client)
    session = first.get_session()
    del full, first  # dropped without keep_session(): OpenSSL forgets it
    _, again = _handshake(server, client, session)
    assert not again.resumed


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_without_a_lifetime_nothing_resumes(certs, version: str) -> None:
    server = TlsServer(certs.server_cert, certs.server_key, None, version, version)
    client = _client(version, tickets=True)
    first, full = _handshake(server, client)
    assert full.session_keys == []
    full.keep_session()
    _, again = _handshake(server, client, first.get_session())
    assert not again.resumed


# -- whole conversations through the engine ----------------------------------------------


def _reconnect_engine(certs, people=None):
    tls = TlsServer(certs.server_cert, certs.server_key, certs.ca_cert, session_lifetime=3600)
    handler = EapHandler(tls, EapOptions(fragment_size=300))
    engine, log = make_engine({"eap": handler}, people)
    # As runtime/server.py wires it: the engine's own directory.
    handler.reconnect = FastReconnect(
        ResumptionTable(100, 3600.0), lambda: engine.directory.members
    )
    return engine, log, handler


def _peer(eap_type: int, inner: str, tls13: bool, certs, first: Peer | None = None) -> Peer:
    peer = Peer(eap_type, inner=inner, tls13=tls13, ca_file=certs.ca_cert)
    if first is not None:
        assert first.conn is not None
        peer.client_context = first.conn.get_context()
        peer.session = first.conn.get_session()
    else:
        peer.client_context = peer._context()
    return peer


def _keys(end) -> tuple[bytes, bytes]:
    recv = salt_decrypt(
        end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_RECV_KEY),
        SECRET,
        end.authenticator,
    )
    send = salt_decrypt(
        end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY),
        SECRET,
        end.authenticator,
    )
    return recv, send


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize(
    ("eap_type", "inner"), [(PEAP, "mschapv2"), (TTLS, "mschapv2")], ids=["peap", "ttls"]
)
def test_a_reconnect_skips_the_pin_check_with_keys_from_the_resumed_session(
    certs, eap_type: int, inner: str, tls13: bool
) -> None:
    engine, log, _ = _reconnect_engine(certs)
    first = _peer(eap_type, inner, tls13, certs)
    assert converse(engine, first).reply.code == c.Code.ACCESS_ACCEPT
    again = _peer(eap_type, inner, tls13, certs, first)
    end = converse(engine, again)
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    assert again.conn is not None and _ssl_lib.SSL_session_reused(again.conn._ssl) == 1
    msk = again.msk()
    assert _keys(end) == (msk[:32], msk[32:])
    assert decode_eap(end.reply.eap_message).code == EapCode.SUCCESS
    final = log.access()[-1]
    assert (final["user"], final["reason"]) == (EMAIL, "ok")
    assert "resumed=true" in final["detail"]
    assert "resumed" not in log.access()[0].get("detail", "")
    # Fewer round trips than the full handshake.
    assert end.rounds < converse(engine, _peer(eap_type, inner, tls13, certs)).rounds


@pytest.mark.parametrize("tls13", [False, True], ids=["tls1.2", "tls1.3"])
def test_without_its_record_peap_runs_the_inner_method_and_ttls_refuses(certs, tls13: bool) -> None:
    engine, log, handler = _reconnect_engine(certs)
    assert handler.reconnect is not None
    # TTLS with inner MS-CHAPv2: this test peer sends PAP along with its Finished, so a
    # TLS 1.3 ticket (sent after the handshake) would never reach it.
    for eap_type, inner in ((PEAP, "mschapv2"), (TTLS, "mschapv2")):
        first = _peer(eap_type, inner, tls13, certs)
        assert converse(engine, first).reply.code == c.Code.ACCESS_ACCEPT
        handler.reconnect.table.expire(now=float("inf"))  # evicted, or past its lifetime
        end = converse(engine, _peer(eap_type, inner, tls13, certs, first))
        final = log.access()[-1]
        if eap_type == PEAP:
            # MS-PEAP 3.3.7.1: not able to fast reconnect, so MS-CHAPv2 runs.
            assert end.reply.code == c.Code.ACCESS_ACCEPT
            assert (final["method"], final["reason"]) == ("peap-mschapv2", "ok")
            assert "resumed=tls" in final["detail"]
        else:
            assert end.reply.code == c.Code.ACCESS_REJECT
            assert final["reason"] == "eap_resumption_expired"


@pytest.mark.parametrize(
    ("eap_type", "inner"), [(PEAP, "mschapv2"), (TTLS, "mschapv2")], ids=["peap", "ttls"]
)
def test_a_pin_changed_or_a_member_disabled_since_is_refused(
    certs, eap_type: int, inner: str
) -> None:
    engine, log, _ = _reconnect_engine(certs)
    first = _peer(eap_type, inner, False, certs)
    assert converse(engine, first).reply.code == c.Code.ACCESS_ACCEPT
    ada = engine.directory.members.get(EMAIL)
    assert ada is not None
    engine.directory.members.put(dataclasses.replace(ada, active=False))
    end = converse(engine, _peer(eap_type, inner, False, certs, first))
    assert end.reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] == "inactive"
    assert "resumed=true" in log.access()[-1]["detail"]
    # Enabled again but with a new PIN: the session proved the old one.
    engine.directory.members.put(
        dataclasses.replace(ada, pin=b"97531", previous_pin=ada.pin, pin_changed_at=time.time())
    )
    end = converse(engine, _peer(eap_type, inner, False, certs, first))
    assert end.reply.code == c.Code.ACCESS_REJECT
    assert log.access()[-1]["reason"] in ("stale_pin", "wrong_pin")


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "good"),
    [
        ("RADIUS_TLS_SESSION_LIFETIME", "0", True),
        ("RADIUS_TLS_SESSION_LIFETIME", "86400", True),
        ("RADIUS_TLS_SESSION_LIFETIME", "-1", False),
        ("RADIUS_TLS_SESSION_LIFETIME", "604801", False),
        ("RADIUS_TLS_SESSION_CACHE_SIZE", "1", True),
        ("RADIUS_TLS_SESSION_CACHE_SIZE", "0", False),
    ],
)
def test_fast_reconnect_settings_are_checked(variable: str, value: str, good: bool) -> None:
    if good:
        settings = load_settings(None, environ={variable: value})
        assert getattr(settings, variable.removeprefix("RADIUS_").lower()) == int(value)
    else:
        with pytest.raises(ConfigError) as info:
            load_settings(None, environ={variable: value})
        assert variable.removeprefix("RADIUS_").lower() in str(info.value)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_the_tunnel_reads_application_data_and_refuses_a_tampered_record(certs, version) -> None:
    """TlsTunnel.read over the bindings: whole messages in, OpenSSL's reason out on a bad MAC."""
    server = TlsServer(certs.server_cert, certs.server_key, None, version, version)
    conn, tunnel = _handshake(server, _client(version, tickets=False))
    assert tunnel.read() == b""  # nothing sent yet: no data, no error
    conn.sendall(b"a" * 20000)  # more than one read buffer, in two records
    tunnel.receive(conn.bio_read(65536))
    assert tunnel.read() == b"a" * 20000
    conn.sendall(b"inner data")
    record = bytearray(conn.bio_read(65536))
    record[-1] ^= 1
    tunnel.receive(bytes(record))
    with pytest.raises(TlsError) as refused:
        tunnel.read()
    assert "inner data" not in str(refused.value) and str(refused.value)
