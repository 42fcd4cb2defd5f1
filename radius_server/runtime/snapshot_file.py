"""The directory's last good view on disk, so a restart during an outage still serves.

Written after each full load and, after changes, at most every few seconds:
JSON, mode 0600 (it holds PINs and shared secrets, like the database), written
to a temporary file, flushed to disk, then renamed over the old one, so a crash
leaves either the old or the new view, never half of one.

One JSON document, laid out one member per line after a first line holding
everything else: written member by member and read back line by line, so a
million members never exist as one string or a million dicts at once. Files
laid out otherwise (older servers, edited by hand) are read whole.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from radius_server.rules.directory import Client, Member
from radius_server.rules.plans import DEFAULT_VENDOR, Location, PlanDefinition

FORMAT = 1
# Pieces are joined into writes of this size: the batch and its join are held at
# once, so it is kept small (the write runs beside a server answering, and its
# peak counts toward the memory budget of docs/architecture.md).
WRITE_BATCH = 1 << 18
# The first line of a file written member by member ends so; each later line is
# one member (a trailing comma but on the last) until the closing line.
_MEMBERS_OPEN = b'"members":['
_CLOSE = b"]}"


@dataclass(frozen=True, slots=True)
class SavedView:
    """What a snapshot file held."""

    members: list[Member]
    clients: list[Client]
    saved_at: float  # POSIX seconds
    plans: list[PlanDefinition] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)


def _member_dict(m: Member) -> dict[str, Any]:
    return {
        "id": m.id,
        "email": m.email,
        "pin": m.pin.decode("ascii"),
        "active": m.active,
        "wifi_access": m.wifi_access,
        "valid_from": m.valid_from,
        "valid_until": m.valid_until,
        "pin_changed_at": m.pin_changed_at,
        "previous_pin": m.previous_pin.decode("ascii") if m.previous_pin else None,
        "device_limit": m.device_limit,
        "plan_id": m.plan_id,
    }


def _member(d: dict[str, Any]) -> Member:
    previous = d.get("previous_pin")
    return Member(
        id=int(d["id"]),
        email=str(d["email"]),
        pin=str(d["pin"]).encode("ascii"),
        active=bool(d["active"]),
        wifi_access=bool(d["wifi_access"]),
        valid_from=d.get("valid_from"),
        valid_until=d.get("valid_until"),
        pin_changed_at=d.get("pin_changed_at"),
        previous_pin=str(previous).encode("ascii") if previous else None,
        # Absent in files written before device limits: the server's default.
        device_limit=None if d.get("device_limit") is None else int(d["device_limit"]),
        # Absent in files written before plans: the default plan.
        plan_id=None if d.get("plan_id") is None else int(d["plan_id"]),
    )


def _client_dict(c: Client) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "network": str(c.network),
        "secret": c.secret.decode("utf-8"),
        "require_message_authenticator": c.require_message_authenticator,
        "coa_port": c.coa_port,
        "coa_secret": c.coa_secret.decode("utf-8") if c.coa_secret is not None else None,
        "vendor": c.vendor,
        "location_id": c.location_id,
        "coa": c.coa,
    }


def _client(d: dict[str, Any]) -> Client:
    return Client(
        id=int(d["id"]),
        name=str(d["name"]),
        network=ipaddress.ip_network(d["network"]),
        secret=str(d["secret"]).encode("utf-8"),
        require_message_authenticator=bool(d["require_message_authenticator"]),
        # Absent from files saved before dynamic authorization existed.
        coa_port=int(d["coa_port"]) if d.get("coa_port") is not None else None,
        coa_secret=str(d["coa_secret"]).encode("utf-8") if d.get("coa_secret") else None,
        # Absent from files saved before plans and locations.
        vendor=str(d.get("vendor") or DEFAULT_VENDOR),
        location_id=int(d["location_id"]) if d.get("location_id") is not None else None,
        coa=bool(d.get("coa", False)),
    )


def _plan_dict(p: PlanDefinition) -> dict[str, Any]:
    data = asdict(p)
    data["location_ids"] = None if p.location_ids is None else sorted(p.location_ids)
    data["reply_attributes"] = [list(pair) for pair in p.reply_attributes]
    return data


def _plan(d: dict[str, Any]) -> PlanDefinition:
    ids = d.get("location_ids")
    return PlanDefinition(
        **{
            **d,
            "location_ids": None if ids is None else frozenset(int(i) for i in ids),
            "reply_attributes": tuple((str(n), str(v)) for n, v in d["reply_attributes"]),
        }
    )


class SnapshotFile:
    """Saves and loads a Directory at one path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(
        self,
        members: Iterable[Member],
        clients: list[Client],
        plans: list[PlanDefinition] | None = None,
        locations: list[Location] | None = None,
    ) -> int:
        """Write this view, member by member; return its size in bytes."""
        head = {
            "format": FORMAT,
            "saved_at": time.time(),
            "clients": [_client_dict(c) for c in clients],
            "plans": [_plan_dict(p) for p in plans or ()],
            "locations": [asdict(loc) for loc in locations or ()],
        }
        first = json.dumps(head, separators=(",", ":")).encode("utf-8")
        return self.write_chunks(_document(first[:-1] + b"," + _MEMBERS_OPEN, members))

    def write(self, content: bytes) -> None:
        """Replace the file atomically: temporary file, fsync, rename, fsync the folder."""
        self.write_chunks([content])

    def write_chunks(self, chunks: Iterable[bytes]) -> int:
        """``write`` from pieces (batched into large writes); the size written.

        If producing the pieces fails, the temporary file is removed and the old
        file stays as it was.
        """
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = folder / f".{self.path.name}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        size = 0
        try:
            os.fchmod(fd, 0o600)  # an older leftover may have had other bits
            batch: list[bytes] = []
            pending = 0
            for chunk in chunks:
                batch.append(chunk)
                pending += len(chunk)
                if pending >= WRITE_BATCH:
                    _write_all(fd, b"".join(batch))
                    size, batch, pending = size + pending, [], 0
            _write_all(fd, b"".join(batch))
            size += pending
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(temporary, self.path)
        folder_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)
        return size

    def load(self) -> SavedView | None:
        """The saved view; None when there is no file. Raises ValueError when unusable."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return None
        try:
            with handle:
                first = handle.readline()
                first = first.rstrip(b"\n")
                if first.startswith(b"{") and first.endswith(_MEMBERS_OPEN):
                    data = json.loads(first[: -len(_MEMBERS_OPEN)].rstrip(b",") + b"}")
                    members = list(_member_lines(handle))
                else:
                    data = json.loads(first + b"\n" + handle.read())
                    members = [_member(d) for d in data["members"]]
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("unknown format")
            return SavedView(
                members=members,
                clients=[_client(d) for d in data["clients"]],
                saved_at=float(data["saved_at"]),
                # Absent from files saved before plans: no plan, every location unknown.
                plans=[_plan(d) for d in data.get("plans", ())],
                locations=[Location(**d) for d in data.get("locations", ())],
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # The type only: a message could quote a value, and values include PINs.
            raise ValueError(f"malformed snapshot ({type(exc).__name__})") from None


def _document(first: bytes, members: Iterable[Member]) -> Iterator[bytes]:
    """The file's lines: ``first``, one member per line, the closing line."""
    yield first
    separator = b"\n"
    for member in members:
        yield separator
        yield json.dumps(_member_dict(member), separators=(",", ":")).encode("utf-8")
        separator = b",\n"
    yield b"\n" + _CLOSE + b"\n"


def _member_lines(lines: Iterable[bytes]) -> Iterator[Member]:
    """Members from the lines after the first, up to the closing one (which must be there)."""
    for line in lines:
        line = line.rstrip(b"\n")
        if line == _CLOSE:
            return
        yield _member(json.loads(line.removesuffix(b",")))
    raise ValueError("truncated")


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]
