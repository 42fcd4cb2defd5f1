"""Failed authentications are limited per source: 429 problem with Retry-After.

The limiter runs on a clock the test moves (no sleeps); sources are the TestClient's
client address.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from radius_server.config import Settings
from radius_server.rules.roles import Role
from radius_server.store import database
from radius_server.web.app import create_app
from radius_server.web.auth import FailureLimiter
from radius_server.web.problems import MEDIA_TYPE, TOO_MANY_ATTEMPTS
from tests.integration.api_routes import Tokens, bearer, make_tokens
from tests.integration.test_plan_store import seed_default_plan

BUDGET = 3
WINDOW = 60.0
LIST = "/api/v1/customers"
WRONG = bearer("rsk_" + "x" * 43)


class Clock:
    """A monotonic clock moved by the test."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(clean_db_url: str) -> Iterator[tuple[FastAPI, Tokens, Clock]]:
    engine = database.make_engine(clean_db_url)
    sessions = database.make_session_factory(engine)
    seed_default_plan(sessions)
    tokens = make_tokens(sessions)
    settings = Settings(database_url=clean_db_url, web_auth_failures=BUDGET, web_auth_window=WINDOW)
    app = create_app(settings, engine)
    clock = Clock()
    app.state.limiter = FailureLimiter(BUDGET, WINDOW, clock=clock)
    try:
        yield app, tokens, clock
    finally:
        engine.dispose()


def source(stack: ExitStack, app: FastAPI, address: str) -> TestClient:
    return stack.enter_context(TestClient(app, client=(address, 40000)))


def test_failures_from_one_source_lock_it_out_for_the_window(
    world: tuple[FastAPI, Tokens, Clock],
) -> None:
    app, tokens, clock = world
    good = tokens.header(Role.READONLY)
    with ExitStack() as stack:
        attacker = source(stack, app, "198.51.100.7")
        neighbour = source(stack, app, "198.51.100.8")
        for _ in range(BUDGET):
            assert attacker.get(LIST, headers=WRONG).status_code == 401
        refused = attacker.get(LIST, headers=WRONG)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == MEDIA_TYPE
        body = refused.json()
        assert body["type"] == TOO_MANY_ATTEMPTS.type and body["status"] == 429
        assert 1 <= int(refused.headers["retry-after"]) <= WINDOW + 1
        # Locked out even with a good token (its guesses must stop, not its luck);
        # the neighbour's good token still works.
        assert attacker.get(LIST, headers=good).status_code == 429
        assert neighbour.get(LIST, headers=good).status_code == 200
        # The window passes: the source may try again.
        clock.now += WINDOW
        assert attacker.get(LIST, headers=good).status_code == 200


def test_retry_after_shrinks_as_the_window_passes(world: tuple[FastAPI, Tokens, Clock]) -> None:
    app, _tokens, clock = world
    with ExitStack() as stack:
        attacker = source(stack, app, "203.0.113.1")
        for _ in range(BUDGET):
            attacker.get(LIST, headers=WRONG)
        first = int(attacker.get(LIST, headers=WRONG).headers["retry-after"])
        clock.now += 30
        later = int(attacker.get(LIST, headers=WRONG).headers["retry-after"])
        assert later == first - 30


def test_only_wrong_tokens_count(world: tuple[FastAPI, Tokens, Clock]) -> None:
    """No header, another scheme, a good token: none of them uses up the budget."""
    app, tokens, _clock = world
    with ExitStack() as stack:
        client = source(stack, app, "192.0.2.9")
        for _ in range(BUDGET * 3):
            assert client.get(LIST).status_code == 401
            assert client.get(LIST, headers={"Authorization": "Basic eDp5"}).status_code == 401
            assert client.get(LIST, headers=tokens.header(Role.READONLY)).status_code == 200
        # Still the whole budget left: BUDGET wrong tokens are answered 401, not 429.
        assert [client.get(LIST, headers=WRONG).status_code for _ in range(BUDGET)] == [401] * 3


def test_revoked_and_expired_tokens_count_as_failures(
    world: tuple[FastAPI, Tokens, Clock],
) -> None:
    app, tokens, _clock = world
    with ExitStack() as stack:
        client = source(stack, app, "192.0.2.10")
        for token in (tokens.revoked, tokens.expired, tokens.revoked):
            assert client.get(LIST, headers=bearer(token)).status_code == 401
        assert client.get(LIST, headers=bearer(tokens.expired)).status_code == 429


def test_an_ipv6_host_is_counted_by_its_slash_64(world: tuple[FastAPI, Tokens, Clock]) -> None:
    """Addresses of one /64 share a budget (privacy addresses rotate inside it)."""
    app, tokens, _clock = world
    with ExitStack() as stack:
        rotating = [source(stack, app, f"2001:db8:1:2::{n:x}") for n in range(1, BUDGET + 2)]
        for client in rotating[:BUDGET]:
            assert client.get(LIST, headers=WRONG).status_code == 401
        assert rotating[BUDGET].get(LIST, headers=WRONG).status_code == 429
        other_net = source(stack, app, "2001:db8:1:3::1")
        assert other_net.get(LIST, headers=tokens.header(Role.READONLY)).status_code == 200
        mapped = source(stack, app, "::ffff:192.0.2.50")
        plain = source(stack, app, "192.0.2.50")
        for _ in range(BUDGET):
            assert mapped.get(LIST, headers=WRONG).status_code == 401
        assert plain.get(LIST, headers=WRONG).status_code == 429
