"""Plans through the engine: the Accept of every method carries the plan's attributes
(beside the MPPE keys for EAP and MS-CHAPv2), rejects by plan, and the log's plan name."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

import pytest

from radius_server.eap.plain_mschap import PlainMsChapHandler
from radius_server.protocol import codes as c
from radius_server.protocol import mschap
from radius_server.protocol.client import encode_request
from radius_server.protocol.packet import decode_request
from radius_server.rules.directory import Directory
from radius_server.rules.plans import Location, PlanDefinition, compile_plan
from tests.unit.eap_peer import CASES, Peer, certs, converse, eap_engine
from tests.unit.eap_support import EMAIL, PIN, SECRET, make_engine, member, send
from tests.unit.engine_harness import Harness

__all__ = ["certs"]  # the fixture, re-exported for pytest

DESK = PlanDefinition(
    2,
    "desk",
    vlan=20,
    down_kbps=10000,
    up_kbps=2000,
    idle_timeout=900,
    hours="Mon-Fri 08:00-19:00",
    location_ids=frozenset({1}),
    reply_attributes=(("Filter-Id", "members"),),
)
ANYWHERE = replace(DESK, id=3, name="anywhere", hours=None, location_ids=None)
# A Wednesday, 10:00 in Madrid.
WEDNESDAY_10 = datetime.fromisoformat("2026-12-02T10:00:00+01:00").timestamp()


def with_plans(directory: Directory, plan_id: int, location: bool = True) -> None:
    """Every member on plan ``plan_id``; the NAS at a Madrid location."""
    default = PlanDefinition(1, "default", is_default=True)
    directory.plans.replace_all(compile_plan(d) for d in (default, DESK, ANYWHERE))
    directory.locations = {1: Location(1, "madrid", "Europe/Madrid")}
    for client in directory.clients.all():
        directory.clients.put(
            replace(client, vendor="mikrotik", location_id=1 if location else None)
        )
    for m in directory.members.all():
        directory.members.put(replace(m, plan_id=plan_id))


def carries(reply_attributes: list[tuple[int, bytes]], plan_id: int, vendor: str) -> bool:
    plan = compile_plan(DESK if plan_id == 2 else ANYWHERE)
    expected = list(plan.reply_for(vendor))
    n = len(expected)
    return any(reply_attributes[i : i + n] == expected for i in range(len(reply_attributes)))


@pytest.mark.parametrize("method", ["pap", "chap"])
def test_pap_and_chap_accepts_carry_the_plan_and_the_log_names_it(method: str) -> None:
    harness = Harness()
    harness.clock.now = WEDNESDAY_10
    harness.add_member("ana@example.com", "24680")
    with_plans(harness.directory, 2)
    code, line = harness.send("ana@example.com", "24680", method=method)
    assert code == c.Code.ACCESS_ACCEPT
    assert (line["reason"], line["plan"]) == ("ok", "desk")


def test_accept_bytes_carry_the_plan_attributes() -> None:
    engine, log = make_engine({}, [member()])
    with_plans(engine.directory, 3)
    encoded = encode_request(SECRET, identifier=1, user_name=EMAIL, password=PIN)
    result = engine.handle_auth(encoded.packet, ("127.0.0.1", 40000))
    assert result is not None
    reply = decode_request(result[0])
    assert reply.code == c.Code.ACCESS_ACCEPT
    assert carries(list(reply.attributes), 3, "mikrotik")
    assert log.access()[-1]["plan"] == "anywhere"


def test_outside_hours_and_wrong_location_through_the_engine() -> None:
    harness = Harness()
    harness.clock.now = WEDNESDAY_10 + 10 * 3600  # 20:00
    harness.add_member("ana@example.com", "24680")
    with_plans(harness.directory, 2)
    code, line = harness.send("ana@example.com", "24680")
    assert (code, line["reason"], line["plan"]) == (c.Code.ACCESS_REJECT, "outside_hours", "desk")
    harness.clock.now = WEDNESDAY_10
    with_plans(harness.directory, 2, location=False)
    code, line = harness.send("ana@example.com", "24680")
    assert (code, line["reason"]) == (c.Code.ACCESS_REJECT, "wrong_location")
    # A wrong PIN is a wrong PIN: no plan named, nothing about the plan said.
    code, line = harness.send("ana@example.com", "11111")
    assert (line["reason"], "plan" in line) == ("wrong_pin", False)


@pytest.mark.parametrize(("eap_type", "inner", "label"), CASES, ids=[c[2] for c in CASES])
def test_eap_accepts_carry_the_plan_beside_the_mppe_keys(certs, eap_type, inner, label) -> None:  # type: ignore[no-untyped-def]
    engine, log, _ = eap_engine(certs)
    with_plans(engine.directory, 3)
    end = converse(engine, Peer(eap_type, inner=inner, ca_file=certs.ca_cert))
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    assert end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY) is not None
    assert end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_RECV_KEY) is not None
    assert carries(list(end.reply.attributes), 3, "mikrotik")
    assert end.reply.get(c.TUNNEL_PRIVATE_GROUP_ID) == b"\x0120"
    assert (log.access()[-1]["method"], log.access()[-1]["plan"]) == (label, "anywhere")


def test_plain_mschapv2_accept_carries_the_plan_beside_the_mppe_keys() -> None:
    engine, log = make_engine({"mschap": PlainMsChapHandler()})
    with_plans(engine.directory, 3)
    attrs = mschap.mschapv2_request_attributes(
        EMAIL, PIN, secrets.token_bytes(16), secrets.token_bytes(16), 9
    )
    reply, _ = send(engine, attrs)
    assert reply.code == c.Code.ACCESS_ACCEPT
    assert reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY) is not None
    assert carries(list(reply.attributes), 3, "mikrotik")
    assert log.access()[-1]["plan"] == "anywhere"


# Proxy-State a chain of proxies adds (3.3 KB), all echoed in every reply (RFC 2865 5.33).
PROXY_CHAIN = [bytes((n,)) * 250 for n in range(13)] + [b"z" * 50]


def test_eap_accept_with_a_plan_still_fits_beside_a_proxy_chain(certs) -> None:  # type: ignore[no-untyped-def]
    engine, log, _ = eap_engine(certs, fragment_size=1024)
    with_plans(engine.directory, 3)
    peer = Peer(CASES[0][0], ca_file=certs.ca_cert, fragment=500)
    end = converse(engine, peer, proxy_states=PROXY_CHAIN)
    assert end.reply.code == c.Code.ACCESS_ACCEPT
    assert carries(list(end.reply.attributes), 3, "mikrotik")
    assert end.reply.vendor_attribute(c.VENDOR_MICROSOFT, c.MS_MPPE_SEND_KEY) is not None
    assert log.access()[-1]["reason"] == "ok"


def test_a_plan_too_large_beside_the_proxy_chain_is_a_clean_reject(certs) -> None:  # type: ignore[no-untyped-def]
    engine, log, handler = eap_engine(certs, fragment_size=1024)
    big = PlanDefinition(
        9, "big", reply_attributes=tuple(("Filter-Id", "f" * 250) for _ in range(4))
    )
    engine.directory.plans.replace_all([compile_plan(big)])
    for m in engine.directory.members.all():
        engine.directory.members.put(replace(m, plan_id=9))
    peer = Peer(CASES[0][0], ca_file=certs.ca_cert, fragment=500)
    end = converse(engine, peer, proxy_states=PROXY_CHAIN)
    assert end.reply.code == c.Code.ACCESS_REJECT
    line = log.access()[-1]
    assert (line["outcome"], line["reason"]) == ("reject", "reply_too_large")
    assert len(handler.sessions) == 0
