"""``radius-server token create|list|revoke``: the real console script, both back ends.

A token is printed once and stored as its SHA-256; it never reaches the audit
trail, a log line or ``token list``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.store.models import ApiToken, AuditEvent
from radius_server.store.tokens import TokenRepository
from tests.conftest import Cli

ACTOR = "cli:alice"


@pytest.fixture
def cli(clean_cli: Cli) -> Cli:
    clean_cli.env["RADIUS_ACTOR"] = ACTOR
    return clean_cli


@pytest.fixture
def sessions(clean_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    return clean_sessions


def check(sessions: sessionmaker[Session], token: str) -> Role | None:
    """The role the server would grant ``token`` now, or None."""
    record = TokenRepository(sessions, "test").authenticate(token)
    return record.role if record else None


def audit(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_create_prints_the_token_alone_on_stdout(cli: Cli, sessions: sessionmaker[Session]) -> None:
    made = cli("token", "create", "platform", "--role", "operator")
    assert made.code == 0, made.err
    token = made.out.strip()
    assert made.out == token + "\n" and token.startswith("rsk_") and len(token) == 47
    assert "shown only now" in made.err and token not in made.err
    assert check(sessions, token) == Role.OPERATOR
    with sessions() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "platform"))
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.prefix == token[:10] and row.created_by == ACTOR


def test_create_json(cli: Cli, sessions: sessionmaker[Session]) -> None:
    made = cli("--json", "token", "create", "ro", "--role", "readonly")
    assert made.code == 0, made.err
    data = json.loads(made.out)
    assert data["name"] == "ro" and data["role"] == "readonly"
    assert data["expires_at"] is None and data["revoked_at"] is None
    assert data["created_by"] == ACTOR and data["prefix"] == data["token"][:10]
    assert check(sessions, data["token"]) == Role.READONLY


def test_expires_is_the_last_day_it_works(cli: Cli) -> None:
    day = date.today() + timedelta(days=30)
    made = cli("--json", "token", "create", "temp", "--role", "admin", "--expires", str(day))
    assert made.code == 0, made.err
    # The end of that day (UTC, the default time zone): the first instant of the next.
    assert json.loads(made.out)["expires_at"] == f"{day + timedelta(days=1)}T00:00:00+00:00"


def test_bad_role_is_a_usage_error_naming_the_roles(sqlite_cli: Cli) -> None:
    """Refused by the argument parser: one back end is enough."""
    cli = sqlite_cli
    made = cli("token", "create", "x", "--role", "root")
    assert made.code == 2
    assert "readonly, operator, admin" in made.err and made.out == ""
    missing = cli("token", "create", "x")
    assert missing.code == 2 and "--role" in missing.err


def test_past_expiry_is_refused_and_nothing_written(
    cli: Cli, sessions: sessionmaker[Session]
) -> None:
    made = cli("token", "create", "old", "--role", "admin", "--expires", "2020-01-01")
    assert made.code == 1 and "in the past" in made.err and made.out == ""
    assert cli("--json", "token", "list").out.strip() == "[]"
    assert audit(sessions) == []


def test_duplicate_name_is_refused_and_the_first_token_still_works(
    cli: Cli, sessions: sessionmaker[Session]
) -> None:
    first = cli("token", "create", "ci", "--role", "admin").out.strip()
    again = cli("token", "create", "ci", "--role", "readonly")
    assert again.code == 1 and "exists" in again.err and again.out == ""
    assert check(sessions, first) == Role.ADMIN
    assert [e.action for e in audit(sessions)] == ["token.create"]


def test_bad_names_are_refused(sqlite_cli: Cli) -> None:
    """Refused before the database is asked: one back end is enough."""
    cli = sqlite_cli
    for name in ("", " ", "x" * 65):
        made = cli("token", "create", name, "--role", "admin")
        assert made.code == 1 and "name" in made.err, (name, made)


def test_list_shows_state_never_the_token(cli: Cli, sessions: sessionmaker[Session]) -> None:
    tokens = [
        cli("token", "create", name, "--role", role).out.strip()
        for name, role in (("a-live", "readonly"), ("b-gone", "operator"))
    ]
    assert cli("token", "revoke", "b-gone").code == 0
    human = cli("token", "list")
    assert human.code == 0
    lines = human.out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "ROLE", "STATE"]
    assert lines[1].split()[:3] == ["a-live", "readonly", "active"]
    assert lines[2].split()[:3] == ["b-gone", "operator", "revoked"]
    listed = json.loads(cli("--json", "token", "list").out)
    states = [(t["name"], t["state"]) for t in listed]
    assert states == [("a-live", "active"), ("b-gone", "revoked")]
    for token in tokens:
        assert token not in human.out + human.err
        assert token not in json.dumps(listed)
        assert hashlib.sha256(token.encode()).hexdigest() not in json.dumps(listed)


def test_list_empty(sqlite_cli: Cli) -> None:
    made = sqlite_cli("token", "list")
    assert made.code == 0 and made.out.strip() == "no tokens"


def test_revoke_stops_the_token_at_once(cli: Cli, sessions: sessionmaker[Session]) -> None:
    token = cli("token", "create", "ci", "--role", "operator").out.strip()
    assert check(sessions, token) == Role.OPERATOR
    done = cli("token", "revoke", "ci")
    assert done.code == 0 and done.out.strip() == "revoked token 'ci'"
    assert check(sessions, token) is None
    again = cli("--json", "token", "revoke", "ci")
    assert again.code == 0 and json.loads(again.out)["revoked_at"] is not None
    assert cli("token", "revoke", "ci").out.strip() == "token 'ci' was already revoked"
    # Revoking twice is one event.
    assert [e.action for e in audit(sessions)] == ["token.create", "token.revoke"]


def test_revoke_unknown(cli: Cli) -> None:
    made = cli("token", "revoke", "nobody")
    assert made.code == 1 and "no token named 'nobody'" in made.err
    as_json = cli("--json", "token", "revoke", "nobody")
    assert as_json.code == 1
    assert json.loads(as_json.out) == {"error": "no token named 'nobody'", "exit_code": 1}


def test_audit_rows_name_the_actor_and_never_the_token(
    cli: Cli, sessions: sessionmaker[Session]
) -> None:
    made = cli("token", "create", "platform", "--role", "operator")
    token = made.out.strip()
    revoked = cli("token", "revoke", "platform")
    events = audit(sessions)
    assert [(e.actor, e.action, e.target) for e in events] == [
        (ACTOR, "token.create", "platform"),
        (ACTOR, "token.revoke", "platform"),
    ]
    assert json.loads(events[0].details) == {"role": "operator"}
    digest = hashlib.sha256(token.encode()).hexdigest()
    stored = repr([(e.actor, e.action, e.target, e.details) for e in events])
    history = cli("--json", "customer", "history")
    for text in (stored, history.out, made.err, revoked.out, revoked.err):
        assert token not in text and digest not in text and token[4:20] not in text


def test_the_token_is_nowhere_in_the_database_but_as_its_hash(cli: Cli, clean_db_url: str) -> None:
    """Every text column of every table: the token never, its hash once."""
    token = cli("token", "create", "platform", "--role", "admin").out.strip()
    cli("token", "list")
    engine = database.make_engine(clean_db_url)
    try:
        from radius_server.store.models import Base

        with engine.connect() as conn:
            dump = repr(
                [list(map(tuple, conn.execute(t.select()))) for t in Base.metadata.sorted_tables]
            )
    finally:
        engine.dispose()
    assert token not in dump and token[4:] not in dump
    assert dump.count(hashlib.sha256(token.encode()).hexdigest()) == 1
