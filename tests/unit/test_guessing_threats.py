"""The four threats of the README's security model, simulated through the real decision path.

Every request goes through Engine.handle_auth as bytes, with the default
settings and a fake clock; bounds are computed from the attempts the server
actually evaluated (compared the PIN), read from its canonical log lines.
"""

from __future__ import annotations

import secrets

from radius_server import pins
from radius_server.protocol import codes as c
from radius_server.throttle import DAY, HOUR, ThrottleSettings
from tests.unit.engine_harness import Harness, evaluated, random_mac

ACCEPT, REJECT = c.Code.ACCESS_ACCEPT, c.Code.ACCESS_REJECT
DEFAULTS = ThrottleSettings()


def _wrong(real: str) -> str:
    while True:
        guess = secrets.choice(pins.DRAWABLE)
        if guess != real:
            return guess


def test_targeted_guessing_is_hopeless() -> None:
    """Threat 1: one email, unlimited rate, MACs rotated (and the member's own MACs spoofed).

    30 simulated days, one guess every 20 s: the share of the PIN space the
    server evaluated stays under 1%, and a right guess during a lock is rejected.
    """
    h = Harness()
    pin = secrets.choice(pins.DRAWABLE)
    h.add_member("ana@example.com", pin)
    own_devices = [random_mac() for _ in range(DEFAULTS.max_known_devices)]
    for device in own_devices:
        assert h.send("ana@example.com", pin, device)[0] == ACCEPT
    tried: set[str] = set()
    step = 20.0
    for i in range(int(30 * DAY / step)):
        h.clock.advance(step)
        # Two in three guesses from fresh MACs, one in three spoofing a known device.
        station = own_devices[i % 3] if i % 3 == 0 else random_mac()
        guess = _wrong(pin)
        code, line = h.send("ana@example.com", guess, station)
        assert code == REJECT
        if evaluated(line):
            tried.add(guess)
    probability = len(tried) / pins.DRAWABLE_COUNT
    bound = (DEFAULTS.user_budget + DEFAULTS.max_known_devices * DEFAULTS.device_budget) * 30
    assert len(tried) <= bound
    print(f"targeted: {len(tried)} distinct PINs evaluated in 30 days = {probability:.3%}")
    assert probability < 0.01, f"{len(tried)} PINs evaluated: {probability:.2%}"
    # Now locked for unknown devices: even the right PIN is not checked.
    code, line = h.send("ana@example.com", pin, random_mac())
    assert code == REJECT and line["reason"] == "locked_out"
    assert h.log.named("lockout_started")


def test_spraying_expected_compromises_below_one() -> None:
    """Threat 2: one PIN at a time across 5,000 members, rotated MACs, 30 days.

    The expected number of compromised accounts is the sum over evaluated
    guesses of 1/(codes left for that member); it stays below 1.
    """
    h = Harness()
    members = [f"m{i}@example.com" for i in range(5000)]
    used: set[str] = set()
    for email in members:
        pin = pins.draw_pin(used)
        used.add(pin)
        h.add_member(email, pin)
    per_member: dict[str, int] = {}
    expected = 0.0
    step = 15.0
    for i in range(int(30 * DAY / step)):
        h.clock.advance(step)
        email = members[i % len(members)]
        guess = secrets.choice(pins.DRAWABLE)
        _code, line = h.send(email, guess, random_mac())
        if evaluated(line) and line["reason"] != "ok":
            tried = per_member.get(email, 0)
            expected += 1 / (pins.DRAWABLE_COUNT - tried)
            per_member[email] = tried + 1
    print(f"spraying: {sum(per_member.values())} guesses evaluated, expected {expected:.3f}")
    assert expected < 1.0, f"expected compromises {expected:.2f}"
    assert h.log.named("defensive_mode_started")
    # The global budget is what bounds spraying: at most its size per window.
    assert sum(per_member.values()) <= DEFAULTS.global_budget * (30 * DAY / HOUR) + 100


def test_lockout_cannot_be_used_as_a_weapon() -> None:
    """Threat 3: an attacker locks the email; the member's known devices still get on."""
    h = Harness()
    pin = secrets.choice(pins.DRAWABLE)
    h.add_member("ana@example.com", pin)
    phone, laptop = random_mac(), random_mac()
    assert h.send("ana@example.com", pin, phone)[0] == ACCEPT
    assert h.send("ana@example.com", pin, laptop)[0] == ACCEPT
    for _ in range(200):
        h.clock.advance(1)
        h.send("ana@example.com", _wrong(pin), random_mac())
    code, line = h.send("ana@example.com", pin, random_mac())
    assert code == REJECT and line["reason"] == "locked_out"
    for device in (phone, laptop):
        code, line = h.send("ana@example.com", pin, device)
        assert code == ACCEPT, line
    # The same MAC in another notation is the same device.
    assert h.send("ana@example.com", pin, phone.replace("-", ":").lower())[0] == ACCEPT


def test_stale_phone_does_not_burn_the_budget() -> None:
    """Threat 4: after a PIN change the old phone retries the old PIN forever."""
    h = Harness()
    old, new = "13579", "24680"
    h.add_member("ana@example.com", new, previous_pin=old)
    phone, tablet = random_mac(), random_mac()
    for _ in range(500):
        h.clock.advance(30)
        code, line = h.send("ana@example.com", old, phone)
        assert code == REJECT and line["reason"] == "stale_pin"
    assert h.send("ana@example.com", new, tablet)[0] == ACCEPT
    assert h.send("ana@example.com", new, phone)[0] == ACCEPT
    assert not h.log.named("lockout_started")
    assert old not in str(h.log.events) and new not in str(h.log.events)


def test_stale_pin_with_chap_is_recognised() -> None:
    """CHAP hides the PIN, but one more hash tells the previous PIN apart."""
    h = Harness()
    h.add_member("ana@example.com", "24680", previous_pin="13579")
    code, line = h.send("ana@example.com", "13579", random_mac(), method="chap")
    assert code == REJECT and line["reason"] == "stale_pin"


def test_retransmissions_count_once() -> None:
    """The same packet from the same port five times is one failure (RFC 5080 cache)."""
    h = Harness(settings=ThrottleSettings(user_budget=2))
    h.add_member("ana@example.com", "24680")
    from radius_server.protocol.client import encode_request
    from tests.unit.engine_harness import SECRET

    packet = encode_request(
        SECRET, identifier=9, user_name="ana@example.com", password=b"11223"
    ).packet
    for _ in range(5):
        h.send("ana@example.com", "", packet=packet, port=5000)
    assert h.guard.throttle.users["ana@example.com"].count(h.clock.now, DAY) == 1
    assert len(h.log.named("access")) == 1
    assert h.send("ana@example.com", "24680", random_mac())[0] == ACCEPT


def test_pap_counts_distinct_pins_chap_counts_attempts() -> None:
    """A phone repeating one typo costs one; CHAP cannot tell, so each attempt counts."""
    h = Harness(settings=ThrottleSettings(user_budget=3))
    h.add_member("ana@example.com", "24680")
    h.add_member("bo@example.com", "97531")
    for _ in range(10):
        h.send("ana@example.com", "11223", random_mac())
    assert h.send("ana@example.com", "24680", random_mac())[0] == ACCEPT
    for _ in range(3):
        h.send("bo@example.com", "11223", random_mac(), method="chap")
    code, line = h.send("bo@example.com", "97531", random_mac(), method="chap")
    assert code == REJECT and line["reason"] == "locked_out"


def test_calling_station_spraying_is_throttled() -> None:
    """One device trying many members hits its station budget."""
    h = Harness()
    for i in range(50):
        h.add_member(f"m{i}@example.com", f"{10000 + i * 7:05d}")
    station = random_mac()
    reasons = [h.send(f"m{i}@example.com", "99887", station)[1]["reason"] for i in range(50)]
    assert reasons.count("wrong_pin") == DEFAULTS.station_budget
    assert reasons[-1] == "throttled"
    assert h.log.named("lockout_started")[0]["scope"] == "station"


def test_unknown_email_is_locked_like_a_known_one() -> None:
    """Locks do not reveal whether an email exists."""
    h = Harness(settings=ThrottleSettings(user_budget=2))
    for _ in range(3):
        h.send("ghost@example.com", _wrong("00000"), random_mac())
    assert h.send("ghost@example.com", "12121", random_mac())[1]["reason"] == "locked_out"


def test_ordinary_life_triggers_no_lock() -> None:
    """Members on their own devices, one request in ten a stale PIN: every answer as expected."""
    h = Harness()
    members = []
    used: set[str] = set()
    for i in range(300):
        pin, old = pins.draw_pin(used), pins.draw_pin(used)
        used.update((pin, old))
        h.add_member(f"m{i}@example.com", pin, previous_pin=old)
        members.append((f"m{i}@example.com", pin, old, random_mac()))
    for email, pin, _old, device in members:
        assert h.send(email, pin, device)[0] == ACCEPT
    for i in range(20000):
        h.clock.advance(4)
        email, pin, old, device = members[secrets.randbelow(len(members))]
        stale = i % 10 == 0
        code, line = h.send(email, old if stale else pin, device)
        assert code == (REJECT if stale else ACCEPT), line
    assert not h.log.named("lockout_started")
    assert not h.log.named("defensive_mode_started")
