"""The four threats of the README's security model, simulated through the real decision path.

Every request goes through Engine.handle_auth as bytes, with the default
settings and a fake clock; bounds are computed from the attempts the server
actually evaluated (compared the PIN), read from its canonical log lines.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from radius_server.protocol import codes as c
from radius_server.rules import pins
from radius_server.rules.throttle import DAY, HOUR, ThrottleSettings
from tests.unit.engine_harness import Harness, evaluated, random_mac

ACCEPT, REJECT = c.Code.ACCESS_ACCEPT, c.Code.ACCESS_REJECT
DEFAULTS = ThrottleSettings()


def _wrong(real: str) -> str:
    while True:
        guess = secrets.choice(pins.drawable())
        if guess != real:
            return guess


def test_targeted_guessing_is_hopeless() -> None:
    """Threat 1: one email, unlimited rate, MACs rotated (and the member's own MACs spoofed).

    30 simulated days, one guess every 20 s: the share of the PIN space the
    server evaluated stays under 1%, and a right guess during a lock is rejected.
    """
    h = Harness()
    pin = secrets.choice(pins.drawable())
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


def _members(h: Harness, count: int) -> list[tuple[str, str]]:
    """``count`` members with distinct random PINs: (email, PIN)."""
    used: set[str] = set()
    members = []
    for i in range(count):
        pin = pins.draw_pin(used)
        used.add(pin)
        h.add_member(f"m{i}@example.com", pin)
        members.append((f"m{i}@example.com", pin))
    return members


def _ap(index: int) -> str:
    """The MAC of access point ``index`` (its Called-Station-Id)."""
    return f"AA-BB-CC-00-00-{index:02X}"


def test_spraying_expected_compromises_below_one() -> None:
    """Threat 2: one PIN at a time across 5,000 members, rotated MACs, 30 days.

    The worst case: the attacker reaches five access points (so no single
    location budget stops him) and the site-wide ceiling is what bounds him.
    The expected number of compromised accounts is the sum over evaluated
    guesses of 1/(codes left for that member); it stays below 1.
    """
    h = Harness()
    members = [email for email, _pin in _members(h, 5000)]
    per_member: dict[str, int] = {}
    expected = 0.0
    step = 15.0
    for i in range(int(30 * DAY / step)):
        h.clock.advance(step)
        email = members[i % len(members)]
        guess = secrets.choice(pins.drawable())
        _code, line = h.send(email, guess, random_mac(), ap=_ap(i % 5))
        if evaluated(line) and line["reason"] != "ok":
            tried = per_member.get(email, 0)
            expected += 1 / (pins.DRAWABLE_COUNT - tried)
            per_member[email] = tried + 1
    print(f"spraying: {sum(per_member.values())} guesses evaluated, expected {expected:.3f}")
    assert expected < 1.0, f"expected compromises {expected:.2f}"
    assert any(e["scope"] == "global" for e in h.log.named("defensive_mode_started"))
    # The site-wide ceiling is what bounds spraying: at most its size per window.
    ceiling = DEFAULTS.global_budget * (30 * DAY / HOUR)
    assert sum(per_member.values()) <= ceiling + DEFAULTS.global_budget
    assert ceiling / pins.DRAWABLE_COUNT < 1.0


def _typo(pin: str) -> str:
    """What a member mistypes: one digit changed, or two neighbours swapped."""
    while True:
        digits = list(pin)
        at = secrets.randbelow(5)
        if secrets.randbelow(5) == 0 and at < 4:
            digits[at], digits[at + 1] = digits[at + 1], digits[at]
        else:
            digits[at] = secrets.choice("0123456789")
        typo = "".join(digits)
        if typo != pin:
            return typo


def _busy_morning(settings: ThrottleSettings) -> tuple[int, int, Harness]:
    """10,000 members sign in from devices not yet known within one hour, on 20 access
    points; one in ten first mistypes the PIN and retries (one in twenty of those gives
    up). Returns (sign-ins, throttled, harness)."""
    h = Harness(settings=settings)
    members = _members(h, 10_000)
    refused = 0
    requests = 0
    step = HOUR / len(members)
    for i, (email, pin) in enumerate(members):
        h.clock.advance(step)
        device, ap = random_mac(), _ap(secrets.randbelow(20))
        if i % 10 == 0:
            requests += 1
            _code, line = h.send(email, _typo(pin), device, ap=ap)
            refused += line["reason"] == "throttled"
            if i % 200 == 0:
                continue  # gave up
        requests += 1
        code, line = h.send(email, pin, device, ap=ap)
        refused += line["reason"] == "throttled"
        assert code == ACCEPT or line["reason"] == "throttled", line
    return requests, refused, h


def test_busy_morning_of_newcomers_is_not_throttled() -> None:
    """A typo followed by a success from the same device is forgiven: nobody is throttled.

    The same morning under the old rules (one site-wide budget of 100 an hour,
    nothing forgiven) refuses most sign-ins as ``throttled``.
    """
    requests, refused, h = _busy_morning(DEFAULTS)
    print(f"busy morning: {requests} sign-ins, {refused} throttled = {refused / requests:.2%}")
    assert refused == 0
    assert not h.log.named("defensive_mode_started")
    old_rules = replace(DEFAULTS, global_budget=100, location_budget=10**9, forgive_window=0.0)
    requests, refused, _h = _busy_morning(old_rules)
    print(f"  old rules: {refused} throttled = {refused / requests:.2%}")
    assert refused / requests > 0.5


def test_attacker_in_radio_range_only_affects_newcomers_at_that_place() -> None:
    """Threat 3b: 30 days of two wrong guesses a minute (rotated MACs) at the lobby AP.

    Newcomers at the four other access points are all served; at the lobby,
    newcomers' unknown devices are throttled, but a device registered by staff
    (``radius-server device add``) and members' known devices get on. The site
    never enters defensive mode, and the guesses evaluated stay far below the
    spraying bound.
    """
    h = Harness()
    members = _members(h, 5000)
    lobby = _ap(0)
    regular_email, regular_pin = members[0]
    phone = random_mac()
    assert h.send(regular_email, regular_pin, phone, ap=_ap(1))[0] == ACCEPT
    staff_email, staff_pin = members[1]
    registered = random_mac()
    # What `radius-server device add` shares with every server.
    from radius_server.rules.throttle import EventKind, ThrottleEvent, normalize_station

    h.guard.throttle.apply(
        ThrottleEvent(
            EventKind.SUCCESS, h.clock.now, staff_email, normalize_station(registered), True
        )
    )
    served = {"lobby": [0, 0], "elsewhere": [0, 0], "known": [0, 0], "registered": [0, 0]}
    guesses = 0
    step = 30.0
    for i in range(int(30 * DAY / step)):
        h.clock.advance(step)
        email, _pin = members[secrets.randbelow(len(members))]
        _code, line = h.send(email, secrets.choice(pins.drawable()), random_mac(), ap=lobby)
        guesses += evaluated(line) and line["reason"] != "ok"
        if i % 20 == 0:  # a newcomer every ten minutes, at a random access point
            email, pin = members[2 + secrets.randbelow(len(members) - 2)]
            place = secrets.randbelow(5)
            code, _line = h.send(email, pin, random_mac(), ap=_ap(place))
            tally = served["lobby" if place == 0 else "elsewhere"]
            tally[0] += code == ACCEPT
            tally[1] += 1
        if i % 120 == 0:  # hourly, the regular's phone and the registered laptop at the lobby
            for name, (email, pin, device) in {
                "known": (regular_email, regular_pin, phone),
                "registered": (staff_email, staff_pin, registered),
            }.items():
                code, _line = h.send(email, pin, device, ap=lobby)
                served[name][0] += code == ACCEPT
                served[name][1] += 1
    share = {name: ok / total for name, (ok, total) in served.items()}
    print(
        "attacker at the lobby: "
        + ", ".join(f"{name} {value:.1%} served" for name, value in share.items())
        + f"; {guesses} guesses evaluated = {guesses / pins.DRAWABLE_COUNT:.3f} expected"
    )
    assert share["elsewhere"] == 1.0
    assert share["known"] == 1.0 and share["registered"] == 1.0
    assert share["lobby"] < 0.2
    assert not any(e["scope"] == "global" for e in h.log.named("defensive_mode_started"))
    assert guesses <= DEFAULTS.location_budget * (30 * DAY / HOUR) + DEFAULTS.location_budget


def test_lockout_cannot_be_used_as_a_weapon() -> None:
    """Threat 3: an attacker locks the email; the member's known devices still get on."""
    h = Harness()
    pin = secrets.choice(pins.drawable())
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
        pin = pins.draw_pin(used)
        old = pins.draw_pin(used | {pin})  # never the current PIN: that would be an accept
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
