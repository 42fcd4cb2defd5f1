"""The admin service layer called directly, as an HTTP API would: no CLI, no printing.

Same on SQLite and on the real PostgreSQL.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.admin import Admin
from radius_server.admin import guessing as guessing_module
from radius_server.admin.clients import NewClient
from radius_server.admin.customers import CustomerUpdate, NewCustomer
from radius_server.config import ConfigError, Settings
from radius_server.rules.throttle import EventKind, ThrottleEvent
from radius_server.store.errors import InvalidValue, NotFound
from radius_server.store.models import AuditEvent, ThrottleEventRow
from radius_server.store.throttle_log import ThrottleLog

ACTOR = "web:alice"


@pytest.fixture
def sessions(clean_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on an emptied, migrated database (both back ends)."""
    return clean_sessions


@pytest.fixture
def admin(clean_db_url: str, sessions: sessionmaker[Session]) -> Admin:
    """The service acting as a web admin (a second caller next to the CLI)."""
    settings = Settings(database_url=clean_db_url, throttle_user_budget=3, timezone="UTC")
    return Admin(settings, sessions, ACTOR)


def audit_trail(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, str]]:
    """(actor, action, target, details) of every audit row, oldest first."""
    with sessions() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(r.actor, r.action, r.target, r.details) for r in rows]


def throttle_rows(sessions: sessionmaker[Session]) -> int:
    """How many guessing-protection events are in the shared log."""
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(ThrottleEventRow)) or 0


def test_every_operation_records_its_actor(admin: Admin, sessions: sessionmaker[Session]) -> None:
    """Whoever called the service is the actor of each audit row, not the CLI's user."""
    admin.customers.add(NewCustomer("ana@example.com", "Ana", pin="13579"))
    admin.customers.regenerate_pin("ana@example.com")
    admin.clients.add(NewClient("ap-1", "10.0.0.1"))
    admin.guessing.clear("ANA@example.com")
    admin.guessing.add_device("ana@example.com", "AA-BB-CC-DD-EE-FF")
    trail = audit_trail(sessions)
    assert {actor for actor, *_ in trail} == {ACTOR}
    actions = [action for _, action, _, _ in trail]
    assert "lockout.clear" in actions
    assert "device.add" in actions
    assert actions[0] == "customer.add"


def test_same_pin_again_is_unchanged_and_leaves_no_history(
    admin: Admin, sessions: sessionmaker[Session]
) -> None:
    """Setting the PIN a member already has changes nothing: no audit row, no previous PIN."""
    admin.customers.add(NewCustomer("ana@example.com", pin="13579"))
    before = audit_trail(sessions)
    result = admin.customers.set_pin("ana@example.com", "13579")
    assert result.changed is False
    assert result.record.previous_pin is None
    assert audit_trail(sessions) == before
    changed = admin.customers.set_pin("ana@example.com", "24680")
    assert changed.changed is True
    assert changed.record.pin == "24680"
    assert len(audit_trail(sessions)) == len(before) + 1


def test_dates_are_whole_days_in_the_space_zone(admin: Admin) -> None:
    """A date typed as validity is the whole day: access ends at the next midnight."""
    result = admin.customers.add(NewCustomer("ana@example.com", valid_until=date(2030, 1, 31)))
    assert result.record.valid_until is not None
    assert result.record.valid_until.isoformat() == "2030-02-01T00:00:00+00:00"
    updated = admin.customers.update("ana@example.com", CustomerUpdate(clear_valid_until=True))
    assert updated.record.valid_until is None


def test_lockout_clear_writes_event_and_audit_in_one_transaction(
    admin: Admin, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the audit row cannot be written, the clear is not shared either: both or neither."""

    def broken_audit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit refused")

    monkeypatch.setattr(guessing_module, "audit", broken_audit)
    with pytest.raises(RuntimeError):
        admin.guessing.clear("ana@example.com")
    assert throttle_rows(sessions) == 0
    monkeypatch.undo()
    assert admin.guessing.clear("ana@example.com") == "ana@example.com"
    assert throttle_rows(sessions) == 1
    assert audit_trail(sessions)[-1][:3] == (ACTOR, "lockout.clear", "ana@example.com")


def test_lockouts_replay_the_shared_log_and_clear_lifts_them(
    admin: Admin, sessions: sessionmaker[Session]
) -> None:
    """Failures another server shared show as a lock; a clear lifts it for everyone."""
    now = time.time()
    failures = [
        ThrottleEvent(EventKind.FAILURE, now - 10 + i, "bob@example.com", fingerprint=bytes([i]))
        for i in range(5)
    ]
    ThrottleLog(sessions, "server-a").append(failures)
    report = admin.guessing.lockouts()
    assert [(lock.scope, lock.key) for lock in report.locks] == [("user", "bob@example.com")]
    assert report.users_with_failures[0].user == "bob@example.com"
    assert report.users_with_failures[0].budget == 3
    admin.guessing.clear("bob@example.com")
    after = admin.guessing.lockouts()
    assert after.locks == ()
    assert after.users_with_failures == ()


def test_devices_are_added_listed_and_removed(admin: Admin) -> None:
    """A known device is listed until removed; strangers and unknown devices are refused."""
    with pytest.raises(NotFound, match=r"stranger@example\.com"):
        admin.guessing.add_device("stranger@example.com", "aa:bb:cc:dd:ee:ff")
    admin.customers.add(NewCustomer("ana@example.com"))
    with pytest.raises(InvalidValue, match="not a MAC address"):
        admin.guessing.add_device("ana@example.com", "not-a-mac")
    assert admin.guessing.add_device("ana@example.com", "AABBCCDDEEFF") == (
        "ana@example.com",
        "aa:bb:cc:dd:ee:ff",
    )
    known = admin.guessing.devices("ana@example.com")
    assert [(d.email, d.device) for d in known] == [("ana@example.com", "aa:bb:cc:dd:ee:ff")]
    admin.guessing.remove_device("ana@example.com", "aa:bb:cc:dd:ee:ff")
    assert admin.guessing.devices() == []
    with pytest.raises(NotFound, match="not a known device"):
        admin.guessing.remove_device("ana@example.com", "aa:bb:cc:dd:ee:ff")


def test_template_saved_by_the_actor_and_previewed(
    admin: Admin, sessions: sessionmaker[Session]
) -> None:
    """A saved template names its author; the preview works before SMTP is configured."""
    admin.customers.add(NewCustomer("ana@example.com", "Ana", pin="13579"))
    source = "Subject: Your PIN, {name}\n\nHello {name}, your PIN is {pin}.\n"
    assert {"subject", "text"} <= set(admin.templates.save_text(source, via="api"))
    stored = admin.templates.get()
    assert stored.updated_by == ACTOR
    preview = admin.templates.preview("ana@example.com")
    assert preview.rendered.subject == "Your PIN, Ana"
    assert "13579" in preview.rendered.text
    assert preview.sender == "(smtp_sender_address is not set)"
    actor, action, _, details = audit_trail(sessions)[-1]
    assert (actor, action, json.loads(details)["via"]) == (ACTOR, "template.set", "api")


def test_reminder_plan_refuses_unknown_members_and_dry_run_needs_no_smtp(admin: Admin) -> None:
    """One unknown address refuses the plan; a dry run goes on without SMTP, with a warning."""
    admin.customers.add(NewCustomer("ana@example.com", "Ana"))
    admin.customers.add(NewCustomer("off@example.com", "Off", active=False))
    smtp = admin.reminders.smtp(dry_run=True)
    assert smtp.warning is not None
    with pytest.raises(NotFound, match=r"nobody@example\.com"):
        admin.reminders.plan(smtp.config, ["ana@example.com", "nobody@example.com"])
    plan = admin.reminders.plan(
        smtp.config, ["ana@example.com", "off@example.com"], active_only=True
    )
    assert [r.email for r in plan.recipients] == ["ana@example.com"]
    assert plan.skipped == (("off@example.com", "disabled"),)
    assert "To: Ana <ana@example.com>" in admin.reminders.first_message(plan)


def test_open_migrates_a_new_sqlite_database(tmp_path: Path) -> None:
    """Admin.open checks the schema like the server does: a new SQLite file is migrated."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    admin = Admin.open(Settings(database_url=url), ACTOR)
    try:
        assert admin.customers.find() == []
        assert admin.clients.find() == []
    finally:
        admin.close()


def test_mail_test_refuses_missing_settings_then_a_bad_address(
    admin: Admin, clean_db_url: str, sessions: sessionmaker[Session]
) -> None:
    """The SMTP settings are checked first (ConfigError), then the address (InvalidValue)."""
    with pytest.raises(ConfigError):
        admin.reminders.send_test("someone@example.com")
    configured = Settings(
        database_url=clean_db_url, smtp_host="127.0.0.1", smtp_sender_address="desk@example.com"
    )
    with pytest.raises(InvalidValue, match="not an email address"):
        Admin(configured, sessions, ACTOR).reminders.send_test("nobody")


def test_an_actor_from_another_caller_is_stored_escaped_and_cut(
    clean_db_url: str, sessions: sessionmaker[Session]
) -> None:
    """A web user name with a control character cannot reach a terminal through history."""
    admin = Admin(Settings(database_url=clean_db_url), sessions, "web:eve\x1b[2J" + "x" * 500)
    admin.customers.add(NewCustomer("ana@example.com"))
    actor = admin.customers.history(1)[0].actor
    assert actor.startswith("web:eve\\x1b[2J")
    assert len(actor) == 200
