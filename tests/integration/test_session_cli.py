"""``radius-server session list|show``: accounting sessions for admins (both back ends)."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from radius_server.rules.accounting import AccountingRecord, StatusType, unique_session_key
from radius_server.store.sessions import SessionStore
from tests.conftest import Cli

GIGA = 1 << 32


def _record(
    status: StatusType, session_id: str, at: float, client: str, station: str, **values: object
) -> AccountingRecord:
    fields: dict[str, object] = {
        "status": status,
        "unique_key": unique_session_key(client, "192.0.2.1", None, 1, session_id),
        "client_name": client,
        "nas_address": "192.0.2.1",
        "acct_session_id": session_id,
        "user_name": "ada@example.org",
        "event_time": at,
        "received_at": at,
        "nas_ip_address": "192.0.2.1",
        "nas_port": 1,
        "calling_station_id": station,
    }
    fields.update(values)
    return AccountingRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def seeded(clean_sessions: sessionmaker[Session]) -> dict[str, int]:
    """Three sessions: Ada online on hall (1.2 MB in), Ada closed on roof, Bob online on hall."""
    store = SessionStore(clean_sessions)
    now = time.time()
    store.write(
        [
            _record(
                StatusType.START,
                "A",
                now - 3690,
                "hall",
                "aa:bb:cc:dd:ee:01",
                member_email="ada@example.org",
                customer_id=1,
            ),
            _record(
                StatusType.INTERIM_UPDATE,
                "A",
                now - 100,
                "hall",
                "aa:bb:cc:dd:ee:01",
                session_time=3600,
                input_octets=1_234_567,
                output_octets=3 * GIGA,
                framed_ip_address="10.0.0.7",
            ),
            _record(
                StatusType.STOP,
                "B",
                now - 7200,
                "roof",
                "aa:bb:cc:dd:ee:02",
                member_email="ada@example.org",
                session_time=65,
                input_octets=999,
                terminate_cause="User-Request",
            ),
            _record(
                StatusType.START,
                "C",
                now - 60,
                "hall",
                "aa:bb:cc:dd:ee:03",
                user_name="bob@example.org",
                member_email="bob@example.org",
            ),
        ],
        now=now,
    )
    return {r.acct_session_id: r.id for r in store.find()}


def test_session_list_table_and_filters(clean_cli: Cli, seeded: dict[str, int]) -> None:
    result = clean_cli("session", "list")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:4] == ["ID", "USER", "NAS", "STATION"]
    assert len(lines) == 5 and lines[-1] == "3 session(s)"
    # Newest first: Bob (started a minute ago), Ada on hall, Ada on roof.
    assert [line.split()[1] for line in lines[1:4]] == [
        "bob@example.org",
        "ada@example.org",
        "ada@example.org",
    ]
    ada = lines[2]
    assert "1.2 MB" in ada and "12.9 GB" in ada and "online" in ada
    assert re.search(r"  1h 0[1-9]m  ", ada)  # started 61.5 minutes before the listing
    assert "10.0.0.7" in ada
    roof = lines[3]
    assert "999 B" in roof and "closed (stop)" in roof and "1m 05s" in roof

    online = clean_cli("session", "list", "--online")
    assert online.code == 0 and online.out.splitlines()[-1] == "2 session(s)"
    ada_only = clean_cli("session", "list", "--user", " Ada@Example.org ", "--nas", "hall")
    assert ada_only.code == 0 and ada_only.out.splitlines()[-1] == "1 session(s)"
    limited = clean_cli("session", "list", "--limit", "1")
    assert limited.out.splitlines()[-1] == "1 session(s) (more: raise --limit above 1)"
    none = clean_cli("session", "list", "--nas", "nowhere")
    assert none.code == 0 and none.out.strip() == "no sessions"


def test_session_list_json_is_exact(clean_cli: Cli, seeded: dict[str, int]) -> None:
    result = clean_cli("--json", "session", "list", "--online", "--user", "ada@example.org")
    assert result.code == 0, result.err
    [row] = json.loads(result.out)
    assert row["id"] == seeded["A"] and row["online"] is True
    assert row["input_octets"] == 1_234_567 and row["output_octets"] == 3 * GIGA
    assert row["session_time"] == 3600 and row["stopped_at"] is None
    assert row["duration"] >= 3690  # seconds since the start, at the listing
    assert row["client_name"] == "hall" and row["calling_station_id"] == "aa:bb:cc:dd:ee:01"


def test_session_show(clean_cli: Cli, seeded: dict[str, int]) -> None:
    shown = clean_cli("session", "show", str(seeded["B"]))
    assert shown.code == 0, shown.err
    fields = dict(line.split(None, 1) for line in shown.out.splitlines())
    assert fields["state"] == "closed (stop)" and fields["nas"] == "roof"
    assert fields["input"] == "999 B (999 octets, 0 packets)"
    assert fields["duration"] == "1m 05s" and fields["terminate_cause"] == "User-Request"
    as_json = json.loads(clean_cli("session", "show", str(seeded["B"]), "--json").out)
    assert as_json["id"] == seeded["B"] and as_json["close_reason"] == "stop"
    assert as_json["duration"] == 65 and as_json["terminate_cause"] == "User-Request"


def test_session_bad_arguments_are_one_line(clean_cli: Cli, seeded: dict[str, int]) -> None:
    missing = clean_cli("session", "show", "987654")
    assert missing.code == 1 and missing.out == ""
    assert missing.err == "error: no session with id 987654\n"
    as_json = clean_cli("--json", "session", "show", "987654")
    assert as_json.code == 1
    assert json.loads(as_json.out) == {"error": "no session with id 987654", "exit_code": 1}
    # The same exit as another not-found error.
    assert clean_cli("customer", "show", "nobody@example.org").code == missing.code
    bad_email = clean_cli("session", "list", "--user", "not-an-email")
    assert bad_email.code == 1 and bad_email.err.startswith("error: not a valid email address")
    assert bad_email.err.count("\n") == 1
    assert clean_cli("session", "show", "x").code == 2  # a usage error, as argparse's
    assert clean_cli("session", "list", "--limit", "0").code == 2
