"""The directory snapshot file: round trip, 0600, atomic replacement, bad files."""

from __future__ import annotations

import ipaddress
import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from radius_server.rules.directory import Client, Member
from radius_server.rules.plans import Location, PlanDefinition
from radius_server.runtime.snapshot_file import SnapshotFile

MEMBER = Member(
    id=7,
    email="ana@example.com",
    pin=b"48213",
    active=True,
    wifi_access=False,
    valid_from=1_700_000_000.0,
    valid_until=None,
    pin_changed_at=1_700_000_100.5,
    previous_pin=b"11235",
)
CLIENT = Client(
    id=3,
    name="lobby",
    network=ipaddress.ip_network("192.0.2.0/24"),
    secret="s3cret-ünïcode".encode(),
    require_message_authenticator=True,
)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    """What is saved is what loads, field for field."""
    snapshot = SnapshotFile(tmp_path / "view.json")
    size = snapshot.save([MEMBER], [CLIENT])
    saved = snapshot.load()
    assert saved is not None and size == (tmp_path / "view.json").stat().st_size
    assert saved.members == [MEMBER] and saved.clients == [CLIENT]
    assert saved.saved_at > 0


def test_dynamic_authorization_settings_round_trip(tmp_path: Path) -> None:
    """A NAS's CoA port and secret survive the file; a file saved before them loads without."""
    with_coa = replace(
        CLIENT, id=4, name="hall", coa_port=3799, coa_secret=b"coa-secret-0123456789"
    )
    snapshot = SnapshotFile(tmp_path / "view.json")
    snapshot.save([], [CLIENT, with_coa])
    saved = snapshot.load()
    assert saved is not None and saved.clients == [CLIENT, with_coa]
    assert "coa-secret" not in repr(with_coa)
    data = json.loads((tmp_path / "view.json").read_text())
    for client in data["clients"]:
        del client["coa_port"], client["coa_secret"]
    (tmp_path / "view.json").write_text(json.dumps(data))
    older = snapshot.load()
    assert older is not None and [c.coa_port for c in older.clients] == [None, None]


def test_plans_and_locations_round_trip(tmp_path: Path) -> None:
    """Plans, locations and who is on which plan survive the file; older files load without."""
    plan = PlanDefinition(
        id=2,
        name="hot-desk",
        vlan=20,
        down_kbps=50_000,
        hours="Mon-Fri 08:00-19:00",
        location_ids=frozenset({1, 5}),
        reply_attributes=(("Filter-Id", "members"),),
    )
    default = PlanDefinition(id=1, name="default", is_default=True)
    location = Location(id=5, name="Madrid", timezone="Europe/Madrid")
    member = replace(MEMBER, plan_id=2)
    client = replace(CLIENT, vendor="mikrotik", location_id=5, coa=True)
    snapshot = SnapshotFile(tmp_path / "view.json")
    snapshot.save([member], [client], [plan, default], [location])
    saved = snapshot.load()
    assert saved is not None
    assert saved.plans == [plan, default] and saved.locations == [location]
    assert saved.members == [member] and saved.clients == [client]
    data = json.loads((tmp_path / "view.json").read_text())
    del data["plans"], data["locations"], data["members"][0]["plan_id"]
    for key in ("vendor", "location_id", "coa"):
        del data["clients"][0][key]
    (tmp_path / "view.json").write_text(json.dumps(data))
    older = snapshot.load()
    assert older is not None and older.plans == [] and older.locations == []
    assert older.members == [MEMBER] and older.clients == [CLIENT]


def test_file_is_private_and_replaced_atomically(tmp_path: Path) -> None:
    """0600 even over a looser older file; no temporary file left behind."""
    path = tmp_path / "deep" / "view.json"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    SnapshotFile(path).save([MEMBER], [])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["view.json"]


def test_missing_file_is_none(tmp_path: Path) -> None:
    """No snapshot yet: None, not an error."""
    assert SnapshotFile(tmp_path / "absent.json").load() is None


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"format": 99}', b'{"format": 1, "members": [{"pin": "48213"}]}', b"[]"],
)
def test_unusable_file_raises_without_quoting_it(tmp_path: Path, content: bytes) -> None:
    """A damaged file is a ValueError whose message holds no value from it."""
    path = tmp_path / "view.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"^malformed snapshot \(\w+\)$") as caught:
        SnapshotFile(path).load()
    assert "48213" not in str(caught.value)


def test_many_members_are_written_one_per_line_and_read_back(tmp_path: Path) -> None:
    """Members stream in from any iterable; the file is one JSON document, a member a line."""
    path = tmp_path / "view.json"
    members = [replace(MEMBER, id=n, email=f"m{n}@example.com") for n in range(1, 2001)]
    size = SnapshotFile(path).save(iter(members), [CLIENT])
    assert size == path.stat().st_size
    assert len(path.read_bytes().splitlines()) == 2 + len(members)
    whole = json.loads(path.read_text())  # still one valid document, as older servers read it
    assert len(whole["members"]) == len(members) and whole["format"] == 1
    saved = SnapshotFile(path).load()
    assert saved is not None and saved.members == members and saved.clients == [CLIENT]


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    """A file cut after some members (a full disk mid-copy) is unusable, not half a view."""
    path = tmp_path / "view.json"
    SnapshotFile(path).save([MEMBER, replace(MEMBER, id=8, email="b@example.com")], [])
    path.write_bytes(b"\n".join(path.read_bytes().splitlines()[:2]) + b"\n")
    with pytest.raises(ValueError, match=r"^malformed snapshot \(\w+\)$"):
        SnapshotFile(path).load()


def test_failure_while_writing_keeps_the_old_file(tmp_path: Path) -> None:
    """Members that fail to come (a view changing under the copy) leave the old file whole."""
    path = tmp_path / "view.json"
    SnapshotFile(path).save([MEMBER], [CLIENT])
    before = path.read_bytes()

    def broken():  # type: ignore[no-untyped-def]
        yield MEMBER
        raise RuntimeError("dictionary changed size during iteration")

    with pytest.raises(RuntimeError):
        SnapshotFile(path).save(broken(), [CLIENT])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.json"]
