"""Repository tests, the same on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules import pins
from radius_server.store import customers as customers_module
from radius_server.store import database
from radius_server.store.clients import ClientRepository
from radius_server.store.customers import CustomerChanges, CustomerRepository
from radius_server.store.errors import AlreadyExists, InvalidValue, NotFound, PinTaken
from radius_server.store.models import AuditEvent, Change, Customer


@pytest.fixture
def engine(clean_db_url: str) -> Iterator[Engine]:
    """An engine on an emptied, migrated database (both back ends)."""
    eng = database.make_engine(clean_db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Session factory on the migrated database."""
    return database.make_session_factory(engine)


@pytest.fixture
def repo(sessions: sessionmaker[Session]) -> CustomerRepository:
    """Customer repository acting as a test admin."""
    return CustomerRepository(sessions, actor="test:admin")


@pytest.fixture
def nas(sessions: sessionmaker[Session]) -> ClientRepository:
    """RADIUS client repository acting as a test admin."""
    return ClientRepository(sessions, actor="test:admin")


def changes(sessions: sessionmaker[Session]) -> list[tuple[int, str, int]]:
    """The change feed as (seq, entity, entity_id), oldest first."""
    with sessions() as session:
        rows = session.scalars(select(Change).order_by(Change.seq))
        return [(c.seq, c.entity, c.entity_id) for c in rows]


def audit_rows(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    """Every audit event, oldest first."""
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def pins_by_email(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Every customer's PIN straight from the table."""
    with sessions() as session:
        return {c.email: c.pin for c in session.scalars(select(Customer))}


# ---------------------------------------------------------------- customers


def test_add_assigns_a_drawable_pin(repo: CustomerRepository) -> None:
    """A new customer gets a random 5-digit, non-trivial PIN and sane defaults."""
    record = repo.add("  Ana@Example.COM ", "  Ana Lima ")
    assert pins.is_valid_format(record.pin)
    assert not pins.is_trivial(record.pin)
    assert record.email == "ana@example.com"
    assert record.full_name == "Ana Lima"
    assert record.active and record.wifi_access
    assert record.created_at is not None and record.created_at.tzinfo is not None
    assert repo.get("ANA@example.com") == record
    assert repo.count() == 1


def test_add_with_admin_pin(repo: CustomerRepository) -> None:
    """An admin may choose the PIN at creation."""
    assert repo.add("bea@example.com", pin="40517").pin == "40517"
    with pytest.raises(PinTaken, match=re.escape("bea@example.com")):
        repo.add("cai@example.com", pin="40517")
    with pytest.raises(pins.PinError):
        repo.add("cai@example.com", pin="4051")
    assert repo.count() == 1


def test_email_is_unique_regardless_of_case(repo: CustomerRepository) -> None:
    """The same address in another case is a duplicate; nothing is added."""
    repo.add("ana@example.com", "Ana")
    with pytest.raises(AlreadyExists, match=re.escape("ana@example.com")):
        repo.add("ANA@Example.com", "Other Ana")
    assert repo.count() == 1
    assert repo.get("ana@example.com").full_name == "Ana"


BAD_EMAILS = ["", "ana", "ana@", "@example.com", "a b@example.com", "ana@example", "a@@b.com"]


def test_bad_email_is_refused(repo: CustomerRepository) -> None:
    """Malformed addresses are InvalidValue and write nothing."""
    for email in BAD_EMAILS:
        with pytest.raises(InvalidValue):
            repo.add(email)
    assert repo.count() == 0


def test_set_pin_to_taken_pin_names_holder_and_changes_nothing(
    repo: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    """PinTaken names the other customer, not the PIN; both PINs stay as they were."""
    ana = repo.add("ana@example.com")
    bob = repo.add("bob@example.com")
    feed_before = changes(sessions)
    with pytest.raises(PinTaken) as info:
        repo.set_pin("ana@example.com", bob.pin)
    assert "bob@example.com" in str(info.value)
    assert bob.pin not in str(info.value)
    assert pins_by_email(sessions) == {"ana@example.com": ana.pin, "bob@example.com": bob.pin}
    assert repo.get("ana@example.com").pin_changed_at == ana.pin_changed_at
    assert changes(sessions) == feed_before


BAD_PINS = ["1234", "123456", "12a45", " 1234", "１２３４５", "١٢٣٤٥"]  # noqa: RUF001


def test_set_pin_bad_format_changes_nothing(
    repo: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    """A malformed PIN raises PinError and the PIN is unchanged."""
    ana = repo.add("ana@example.com")
    feed = changes(sessions)
    for bad in BAD_PINS:
        with pytest.raises(pins.PinError):
            repo.set_pin("ana@example.com", bad)
    assert pins_by_email(sessions) == {"ana@example.com": ana.pin}
    assert changes(sessions) == feed


def test_set_pin_changes_pin_at_once(
    repo: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    """A free, well-formed PIN replaces the old one, which becomes free."""
    ana = repo.add("ana@example.com")
    new_pin = "40517" if ana.pin != "40517" else "40518"
    changed = repo.set_pin("ana@example.com", new_pin)
    assert changed.pin == new_pin
    assert changed.pin_changed_at is not None and ana.pin_changed_at is not None
    assert changed.pin_changed_at >= ana.pin_changed_at
    assert pins_by_email(sessions) == {"ana@example.com": new_pin}
    # The old PIN is free again: another customer may take it.
    assert repo.add("bob@example.com", pin=ana.pin).pin == ana.pin


def test_set_pin_to_own_pin_is_a_no_op(
    repo: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    """Setting the current PIN again writes nothing."""
    ana = repo.add("ana@example.com")
    before = changes(sessions)
    assert repo.set_pin("ana@example.com", ana.pin).pin == ana.pin
    assert changes(sessions) == before


def test_regenerate_changes_pin_and_pin_changed_at(repo: CustomerRepository) -> None:
    """regenerate (set_pin without a PIN) draws a different PIN and stamps the time."""
    ana = repo.add("ana@example.com")
    fresh = repo.set_pin("ana@example.com")
    assert fresh.pin != ana.pin
    assert pins.is_valid_format(fresh.pin) and not pins.is_trivial(fresh.pin)
    assert fresh.pin_changed_at is not None and ana.pin_changed_at is not None
    assert fresh.pin_changed_at > ana.pin_changed_at
    assert repo.get("ana@example.com").pin == fresh.pin


def test_remove_frees_the_pin(repo: CustomerRepository) -> None:
    """After remove, the customer is gone and the PIN can be given to someone else."""
    ana = repo.add("ana@example.com")
    removed = repo.remove("ANA@example.com")
    assert removed.pin == ana.pin
    with pytest.raises(NotFound):
        repo.get("ana@example.com")
    with pytest.raises(NotFound):
        repo.remove("ana@example.com")
    assert repo.add("bob@example.com", pin=ana.pin).pin == ana.pin


def test_unknown_customer_is_not_found(repo: CustomerRepository) -> None:
    """Every per-customer call refuses an unknown email."""
    with pytest.raises(NotFound, match=re.escape("nobody@example.com")):
        repo.get("nobody@example.com")
    with pytest.raises(NotFound):
        repo.set_pin("nobody@example.com", "40517")
    with pytest.raises(NotFound):
        repo.update("nobody@example.com", CustomerChanges(active=False))


def test_disable_enable_and_update(repo: CustomerRepository) -> None:
    """update changes only what it is given; the PIN is kept."""
    ana = repo.add("ana@example.com", "Ana")
    off = repo.update("ana@example.com", CustomerChanges(active=False))
    assert not off.active and off.pin == ana.pin and off.full_name == "Ana"
    assert [r.email for r in repo.find(active=False)] == ["ana@example.com"]
    assert repo.find(active=True) == []
    on = repo.update("ana@example.com", CustomerChanges(active=True, wifi_access=False))
    assert on.active and not on.wifi_access
    assert repo.find(wifi_access=False)[0].email == "ana@example.com"
    assert repo.find(search="ANA")[0].email == "ana@example.com"


def test_validity_window(repo: CustomerRepository) -> None:
    """Dates in any zone are stored as the same instant; a backwards window is refused."""
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2030, 1, 1, 10, 0, tzinfo=plus_two)
    ana = repo.add("ana@example.com", valid_from=start)
    assert repo.get("ana@example.com").valid_from == start
    assert ana.valid_from == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(InvalidValue):
        repo.update("ana@example.com", CustomerChanges(valid_until=start - timedelta(days=1)))
    with pytest.raises(InvalidValue):
        repo.add("bob@example.com", valid_from=start, valid_until=start)
    until = repo.update("ana@example.com", CustomerChanges(valid_until=start + timedelta(days=30)))
    assert until.valid_until == start + timedelta(days=30)
    cleared = repo.update("ana@example.com", CustomerChanges(clear_valid_from=True))
    assert cleared.valid_from is None and cleared.valid_until is not None


def test_every_write_appends_to_change_feed_and_audit(
    repo: CustomerRepository, nas: ClientRepository, sessions: sessionmaker[Session]
) -> None:
    """Each write adds one change row (increasing seq) and one audit row, never a PIN."""
    seen_pins: set[str] = set()
    steps = [
        lambda: repo.add("ana@example.com", "Ana"),
        lambda: repo.add("bob@example.com", pin="40517"),
        lambda: repo.set_pin("ana@example.com", "59326"),
        lambda: repo.set_pin("ana@example.com"),
        lambda: repo.update("ana@example.com", CustomerChanges(active=False)),
        lambda: repo.update("ana@example.com", CustomerChanges(full_name="Ana L")),
        lambda: repo.remove("bob@example.com"),
        lambda: nas.add("ap-1", "192.0.2.10", "a-long-enough-shared-secret"),
        lambda: nas.update("ap-1", new_secret=True),
        lambda: nas.remove("ap-1"),
    ]
    for number, step in enumerate(steps, start=1):
        result = step()
        pin = getattr(result, "pin", None)
        if pin:
            seen_pins.add(pin)
        feed = changes(sessions)
        assert len(feed) == number
        assert len(audit_rows(sessions)) == number
        assert feed[-1][1] == ("client" if number >= 8 else "customer")
        assert feed[-1][2] == result.id
    seqs = [seq for seq, _, _ in changes(sessions)]
    assert seqs == sorted(set(seqs))
    events = audit_rows(sessions)
    assert [e.action for e in events] == [
        "customer.add",
        "customer.add",
        "customer.set_pin",
        "customer.regenerate_pin",
        "customer.update",
        "customer.update",
        "customer.remove",
        "nas.add",
        "nas.update",
        "nas.remove",
    ]
    assert {e.actor for e in events} == {"test:admin"}
    assert events[0].target == "ana@example.com"
    assert "59326" in seen_pins and "40517" in seen_pins
    for event in events:
        text = " ".join([event.actor, event.action, event.target, event.details])
        for pin in seen_pins:
            assert pin not in text, f"PIN leaked into audit event {event.action}"
        assert "a-long-enough-shared-secret" not in text
        if event.details:
            json.loads(event.details)


def test_no_op_update_writes_nothing(
    repo: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    """An update that changes nothing leaves feed and audit alone."""
    repo.add("ana@example.com", "Ana")
    before = (changes(sessions), len(audit_rows(sessions)))
    repo.update("ana@example.com", CustomerChanges(full_name="Ana", active=True))
    assert (changes(sessions), len(audit_rows(sessions))) == before


def test_failed_write_leaves_nothing_behind(
    repo: CustomerRepository, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """add and set_pin are one transaction: if the audit write fails, nothing is kept."""
    ana = repo.add("ana@example.com")

    def broken_audit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit trail unavailable")

    monkeypatch.setattr(customers_module, "audit", broken_audit)
    feed_before = changes(sessions)
    with pytest.raises(RuntimeError):
        repo.add("bob@example.com")
    with pytest.raises(RuntimeError):
        repo.set_pin("ana@example.com", "40517" if ana.pin != "40517" else "40518")
    with pytest.raises(RuntimeError):
        repo.set_pin("ana@example.com")
    assert pins_by_email(sessions) == {"ana@example.com": ana.pin}
    assert changes(sessions) == feed_before


def test_customer_repr_hides_pin(repo: CustomerRepository) -> None:
    """repr/str of a customer record never shows the PIN; to_dict only on request."""
    ana = repo.add("ana@example.com", pin="40517")
    assert "40517" not in repr(ana)
    assert "40517" not in str(ana)
    assert "pin" not in ana.to_dict(include_pin=False)
    assert ana.to_dict(include_pin=True)["pin"] == "40517"


# ---------------------------------------------------------------- RADIUS clients


CIDR_CASES = [
    ("192.0.2.10", "192.0.2.10/32"),
    (" 10.0.0.0/8 ", "10.0.0.0/8"),
    ("2001:DB8::1", "2001:db8::1/128"),
    ("2001:db8:0:0::/64", "2001:db8::/64"),
]


def test_nas_address_is_normalised_to_cidr(nas: ClientRepository) -> None:
    """Addresses and networks are stored in canonical CIDR form."""
    for number, (given, stored) in enumerate(CIDR_CASES):
        assert nas.add(f"ap-{number}", given).address == stored
        assert nas.get(f"ap-{number}").address == stored


def test_nas_host_bits_and_garbage_are_refused(nas: ClientRepository) -> None:
    """A network with host bits set suggests the right one; garbage is refused."""
    with pytest.raises(InvalidValue, match=r"10\.0\.0\.0/8"):
        nas.add("ap", "10.0.0.1/8")
    with pytest.raises(InvalidValue):
        nas.add("ap", "ap.example.com")
    with pytest.raises(InvalidValue):
        nas.add("ap", "192.0.2.300")
    assert nas.find() == []


def test_nas_duplicate_name_or_address_is_refused(nas: ClientRepository) -> None:
    """Names and addresses are unique, whatever spelling the address has."""
    nas.add("ap-1", "192.0.2.10")
    with pytest.raises(AlreadyExists, match="ap-1"):
        nas.add("ap-1", "192.0.2.11")
    with pytest.raises(AlreadyExists, match="ap-1"):
        nas.add("ap-2", "192.0.2.10/32")
    assert [c.name for c in nas.find()] == ["ap-1"]


def test_nas_generated_secret_is_strong(nas: ClientRepository) -> None:
    """Without a secret, a long random one is generated, different each time, no warning."""
    one = nas.add("ap-1", "192.0.2.10")
    two = nas.add("ap-2", "192.0.2.11")
    assert len(one.secret) >= 32
    assert one.secret != two.secret
    assert nas.warnings == []
    assert one.require_message_authenticator


def test_nas_short_secret_warns(nas: ClientRepository) -> None:
    """A short given secret is stored but warned about (without echoing it); bad ones refused."""
    record = nas.add("ap-1", "192.0.2.10", "Zq9xK")
    assert record.secret == "Zq9xK"
    assert any("shorter than 16" in w for w in nas.warnings)
    assert not any("Zq9xK" in w for w in nas.warnings)
    with pytest.raises(InvalidValue):
        nas.add("ap-2", "192.0.2.11", " padded secret value ")
    with pytest.raises(InvalidValue):
        nas.add("ap-2", "192.0.2.11", "")
    nas.add("ap-3", "192.0.2.12", "x" * 40)
    assert nas.warnings == []
    assert [c.name for c in nas.find()] == ["ap-1", "ap-3"]


def test_nas_update_and_remove(nas: ClientRepository) -> None:
    """Re-key, move, and remove a client."""
    first = nas.add("ap-1", "192.0.2.10")
    nas.add("ap-2", "192.0.2.11")
    rekeyed = nas.update("ap-1", new_secret=True)
    assert rekeyed.secret != first.secret and len(rekeyed.secret) >= 32
    with pytest.raises(AlreadyExists):
        nas.update("ap-1", address="192.0.2.11")
    assert nas.update("ap-1", address="192.0.2.20").address == "192.0.2.20/32"
    assert nas.remove("ap-1").name == "ap-1"
    with pytest.raises(NotFound):
        nas.get("ap-1")


def test_client_repr_hides_secret(nas: ClientRepository) -> None:
    """repr of a client record never shows the shared secret."""
    record = nas.add("ap-1", "192.0.2.10", "a-very-distinctive-secret-value")
    assert "a-very-distinctive-secret-value" not in repr(record)
    assert "secret" not in record.to_dict(include_secret=False)


# ---------------------------------------------------------------- races, simulated


def test_drawn_pin_taken_meanwhile_is_retried(
    repo: CustomerRepository, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A draw that collides in the database (a concurrent writer won) is rolled back and redrawn."""
    bob = repo.add("bob@example.com")
    real_draw = pins.draw_pin
    handed: list[str] = []

    def stale_then_real(used: object) -> str:
        # The first draw behaves as if it had read the PIN list before bob was stored.
        pin = bob.pin if not handed else real_draw(used)  # type: ignore[arg-type]
        handed.append(pin)
        return pin

    monkeypatch.setattr(pins, "draw_pin", stale_then_real)
    ana = repo.add("ana@example.com")
    assert handed[0] == bob.pin and len(handed) == 2
    assert ana.pin == handed[1] != bob.pin
    handed.clear()
    cai = repo.add("cai@example.com")
    regenerated = repo.set_pin("cai@example.com")
    assert regenerated.pin not in {bob.pin, cai.pin}
    assert pins_by_email(sessions) == {
        "bob@example.com": bob.pin,
        "ana@example.com": ana.pin,
        "cai@example.com": regenerated.pin,
    }
    assert len(changes(sessions)) == 4


def test_endless_collisions_give_up_cleanly(
    repo: CustomerRepository, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If every draw collides, add raises PinTaken and writes nothing."""
    bob = repo.add("bob@example.com")
    monkeypatch.setattr(pins, "draw_pin", lambda _used: bob.pin)
    with pytest.raises(PinTaken, match="try again"):
        repo.add("ana@example.com")
    assert pins_by_email(sessions) == {"bob@example.com": bob.pin}
    assert len(changes(sessions)) == 1


def test_full_pin_space_warns_and_then_refuses(
    repo: CustomerRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 90% the repository warns; with nothing free, add refuses with PinSpaceExhausted."""
    real_fullness = pins.fullness
    monkeypatch.setattr(
        pins,
        "fullness",
        lambda used: pins.Fullness(
            used=real_fullness(used).used + 90_000, capacity=pins.DRAWABLE_COUNT
        ),
    )
    repo.add("ana@example.com")
    assert repo.warnings and "PIN codes are in use" in repo.warnings[0]

    def exhausted(_used: object) -> str:
        raise pins.PinSpaceExhausted("all PIN codes are in use")

    monkeypatch.setattr(pins, "draw_pin", exhausted)
    with pytest.raises(pins.PinSpaceExhausted):
        repo.add("bob@example.com")
    assert repo.count() == 1


# ---------------------------------------------------------------- admin input (issue 10)


def test_long_name_and_control_characters_are_refused_before_the_database(
    repo: CustomerRepository, sessions: sessionmaker[Session]
) -> None:
    """Column-sized limits and the control-character rule, the same on both back ends."""
    assert repo.add("ana@example.com", "x" * 200).full_name == "x" * 200
    writes = len(changes(sessions))
    with pytest.raises(InvalidValue, match="longer than 200"):
        repo.add("bob@example.com", "y" * 201)
    with pytest.raises(InvalidValue, match="longer than 200"):
        repo.update("ana@example.com", CustomerChanges(full_name="y" * 5000))
    for name in ("Bob\x00", "Bob\x1b[2J", "Bob\x07", "Bob\nEve", "\u202eboB"):
        with pytest.raises(InvalidValue, match="control character"):
            repo.add("bob@example.com", name)
        with pytest.raises(InvalidValue, match="control character"):
            repo.update("ana@example.com", CustomerChanges(full_name=name))
    for email in ("bob\x00@example.com", "bob\x1b@example.com", "b\x07ob@example.com"):
        with pytest.raises(InvalidValue, match="not a valid email") as caught:
            repo.add(email)
        assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)
    assert [c.email for c in repo.find()] == ["ana@example.com"]
    assert repo.get("ana@example.com").full_name == "x" * 200
    assert len(changes(sessions)) == writes


def test_search_treats_wildcards_as_characters(repo: CustomerRepository) -> None:
    """--search % or _ finds what contains them, not everyone."""
    repo.add("ana@example.com", "Ana")
    repo.add("bob_b@example.com", "Bob")
    repo.add("cy@example.com", "100% Cy")
    assert [c.email for c in repo.find(search="%")] == ["cy@example.com"]
    assert [c.email for c in repo.find(search="_")] == ["bob_b@example.com"]
    assert [c.email for c in repo.find(search="0% c")] == ["cy@example.com"]
    assert [c.email for c in repo.find(search="\\")] == []
    assert len(repo.find(search="example")) == 3


def test_database_errors_do_not_carry_bound_parameters(engine: Engine) -> None:
    """hide_parameters: a refused statement's text names no value it was given (a secret)."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from radius_server.store.models import RadiusClient

    row = {"name": "ap", "secret": "Distinctive-Secret-0123456789", "address": "192.0.2.1/32"}
    with engine.begin() as conn:
        conn.execute(insert(RadiusClient), row)
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert(RadiusClient), {**row, "address": "192.0.2.2/32"})
    assert "Distinctive-Secret" not in str(caught.value)
    assert "192.0.2.2" not in str(caught.value)


def test_a_refused_throttle_event_does_not_hold_back_the_others(
    sessions: sessionmaker[Session],
) -> None:
    """A row the database refuses (PostgreSQL refuses NUL) is dropped and reported alone;
    the rest of the batch is written, so sharing never stops for good. (Identities from
    the wire are cleaned before they get here: see throttle.safe_text.)"""
    import time

    from radius_server.rules.throttle import EventKind, ThrottleEvent
    from radius_server.store.throttle_log import ThrottleLog

    log = ThrottleLog(sessions, "instance-1")
    now = time.time()
    events = [
        ThrottleEvent(EventKind.FAILURE, now, "ev\x00il@example.com", "aa\x00bb"),
        ThrottleEvent(EventKind.FAILURE, now, "ana@example.com", None),
    ]
    refused: list[str] = []
    seqs = log.append(events, on_reject=lambda event, reason: refused.append(event.user))
    stored = [event.user for _, event in ThrottleLog(sessions, "instance-2").after(0)]
    assert "ana@example.com" in stored
    if refused:  # PostgreSQL: the NUL row alone is refused
        assert refused == ["ev\x00il@example.com"] and len(seqs) == 1
    else:  # SQLite stores NUL
        assert len(seqs) == 2 and len(stored) == 2


def test_throttle_events_round_trip_every_field(sessions: sessionmaker[Session]) -> None:
    """A batch comes back field for field as written (PostgreSQL sends it as one jsonb
    parameter, SQLite row by row): time to the microsecond, fingerprint, known, location,
    key id, and the bounds on user and device."""
    from radius_server.rules.throttle import EventKind, ThrottleEvent
    from radius_server.store.throttle_log import ThrottleLog

    at = 1_900_000_000.123456
    events = [
        ThrottleEvent(
            EventKind.FAILURE, at, "ana@example.com", "AA-BB", False, b"\x01" * 16, "lobby", "k1"
        ),
        ThrottleEvent(EventKind.SUCCESS, at + 1, "bo@example.com", "CC-DD", True),
        ThrottleEvent(EventKind.FAILURE, at + 2, "u" * 300, "d" * 80, None),
        ThrottleEvent(EventKind.CLEAR, at + 3, 'ané "quoted"@example.com', None),
    ]
    seqs = ThrottleLog(sessions, "instance-1").append(events)
    assert len(seqs) == 4 and len(set(seqs)) == 4
    read = ThrottleLog(sessions, "instance-2").after(0)
    assert sorted(seq for seq, _ in read) == sorted(seqs)
    got = [event for _, event in read]
    assert [e.kind for e in got] == [e.kind for e in events]
    assert [round(e.at, 6) for e in got] == [round(e.at, 6) for e in events]
    assert got[0].fingerprint == b"\x01" * 16 and got[0].location == "lobby"
    assert got[0].key_id == "k1" and got[0].known is False
    assert got[1].known is True and got[1].device == "CC-DD" and got[1].fingerprint is None
    assert got[2].user == "u" * 254 and got[2].device == "d" * 64 and got[2].known is False
    assert got[3].user == 'ané "quoted"@example.com' and got[3].device is None
    # Nothing of ours comes back to the writer.
    assert ThrottleLog(sessions, "instance-1").after(0) == []
