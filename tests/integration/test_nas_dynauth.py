"""``nas add/update --coa-port/--coa-secret``: a NAS's RFC 5176 settings, both back ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from radius_server.runtime.sync import client_from_record
from radius_server.store import database
from radius_server.store.clients import ClientRepository
from radius_server.store.errors import InvalidValue
from tests.conftest import Cli
from tests.integration.test_cli import failed, ok

COA_SECRET = "Coa-Secret-0123456789abcdef"


@pytest.fixture
def nas_repo(clean_db_url: str) -> Iterator[ClientRepository]:
    engine = database.make_engine(clean_db_url)
    try:
        yield ClientRepository(database.make_session_factory(engine), actor="test")
    finally:
        engine.dispose()


def test_add_update_show_and_turn_off(
    clean_cli: Cli, nas_repo: ClientRepository, tmp_path: Path
) -> None:
    cli = clean_cli
    added = ok(
        cli(
            "nas", "add", "ap-1", "--address", "192.0.2.10", "--coa-port", "3799",
            "--coa-secret", "-", stdin=COA_SECRET + "\n",
        )
    )  # fmt: skip
    assert COA_SECRET not in added.out
    stored = nas_repo.get("ap-1")
    assert (stored.coa_port, stored.coa_secret) == (3799, COA_SECRET)
    assert COA_SECRET not in repr(stored)
    shown = json.loads(ok(cli("--json", "nas", "show", "ap-1", "--show-secret")).out)
    assert (shown["coa_port"], shown["coa_secret"]) == (3799, "separate")
    assert COA_SECRET not in json.dumps(shown)
    listing = ok(cli("nas", "list")).out
    assert "COA PORT" in listing and "3799" in listing and "separate" in listing

    # The directory's view: the NAS's own secret signs Disconnect-Requests.
    client = client_from_record(stored)
    assert client.coa_port == 3799 and client.dynauth_secret == COA_SECRET.encode()

    ok(cli("nas", "update", "ap-1", "--no-coa-secret"))
    stored = nas_repo.get("ap-1")
    assert stored.coa_secret is None
    assert client_from_record(stored).dynauth_secret == stored.secret.encode()
    assert "RADIUS secret" in ok(cli("nas", "show", "ap-1")).out

    path = tmp_path / "coa-secret"
    path.write_text(COA_SECRET + "\n")
    ok(cli("nas", "update", "ap-1", "--coa-port", "1700", "--coa-secret-file", str(path)))
    stored = nas_repo.get("ap-1")
    assert (stored.coa_port, stored.coa_secret) == (1700, COA_SECRET)

    ok(cli("nas", "update", "ap-1", "--coa-port", "none"))
    assert nas_repo.get("ap-1").coa_port is None
    history = ok(cli("customer", "history")).out
    assert "coa_port" in history and COA_SECRET not in history


def test_refusals_and_warnings(clean_cli: Cli, nas_repo: ClientRepository) -> None:
    cli = clean_cli
    ok(cli("nas", "add", "ap-1", "--address", "192.0.2.10"))
    assert nas_repo.get("ap-1").coa_port is None  # none unless asked for
    for bad in ("0", "65536", "coa"):
        result = cli("nas", "update", "ap-1", "--coa-port", bad)
        assert result.code == 2 and "not a port number" in result.err
    failed(cli("nas", "update", "ap-1", "--coa-secret", " padded "), "dynamic authorization")
    short = ok(cli("nas", "update", "ap-1", "--coa-port", "3799", "--coa-secret", "short"))
    assert "dynamic authorization secret is shorter than 16" in short.err
    unused = ok(cli("nas", "add", "ap-2", "--address", "192.0.2.11", "--coa-secret", COA_SECRET))
    assert "without a port is not used" in unused.err
    with pytest.raises(InvalidValue):
        nas_repo.update("ap-1", coa_port=3799, clear_coa_port=True)
