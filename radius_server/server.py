"""Wires a running server: database, directory sync, engine, UDP endpoints, signals."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from radius_server import __version__
from radius_server.config import Settings
from radius_server.directory import Directory
from radius_server.eap.setup import build_methods
from radius_server.engine import Engine, EngineOptions
from radius_server.guard import Guard, instance_name, throttle_settings
from radius_server.logging import flush_logs
from radius_server.store import database
from radius_server.store.errors import SchemaNotReady
from radius_server.store.feed import ChangeFeed
from radius_server.store.throttle_log import ThrottleLog
from radius_server.sync import DirectorySync
from radius_server.throttle_key import load_throttle_key
from radius_server.transport import open_endpoint


def prepare_database(settings: Settings) -> Any:
    """Engine on an up-to-date schema (SQLite migrates itself; PostgreSQL must be upgraded)."""
    engine = database.make_engine(settings.database_url_resolved())
    if engine.dialect.name == "sqlite" and not database.is_up_to_date(engine):
        database.upgrade(engine)
    elif not database.is_up_to_date(engine):
        raise SchemaNotReady(
            "the database schema is not up to date: run 'radius-server db upgrade'"
        )
    return engine


async def _flush_logs_periodically(stop: asyncio.Event, interval: float = 0.02) -> None:
    """Write buffered log lines every ``interval`` seconds (see logging.BufferedLogger)."""
    while not stop.is_set():
        flush_logs()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    flush_logs()


async def serve(
    settings: Settings, log: Any, stop: asyncio.Event | None = None, *, reuse_port: bool = False
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then stop gracefully."""
    # EAP first: a bad certificate stops start-up before anything else is opened.
    methods = build_methods(settings, log)
    db_engine = await asyncio.to_thread(prepare_database, settings)
    directory = Directory()
    sync = DirectorySync(
        ChangeFeed(database.make_session_factory(db_engine)),
        directory,
        log,
        interval=settings.sync_interval,
    )
    await sync.poll_once()
    guard = Guard(
        throttle_settings(settings),
        log,
        ThrottleLog(database.make_session_factory(db_engine), instance_name()),
        key=load_throttle_key(settings),
    )
    try:
        await asyncio.to_thread(guard.load)
    except Exception as exc:  # start anyway: budgets begin empty and fill up
        log.warning("throttle_history_unavailable", error=type(exc).__name__)
    engine = Engine(
        directory,
        log,
        EngineOptions(
            reply_cache_seconds=settings.reply_cache_seconds,
            reject_delay=settings.reject_delay,
            unknown_client_log_interval=settings.unknown_client_log_interval,
        ),
        guard=guard,
        methods=methods,
    )
    auth = await open_endpoint(
        settings.host, settings.auth_port, engine.handle_auth, log, "auth", reuse_port=reuse_port
    )
    acct = await open_endpoint(
        settings.host, settings.acct_port, engine.handle_acct, log, "acct", reuse_port=reuse_port
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    insecure = [cl.name for cl in directory.clients.all() if not cl.require_message_authenticator]
    if insecure:
        log.warning(
            "message_authenticator_not_required",
            clients=insecure,
            risk="BlastRADIUS (CVE-2024-3596)",
        )
    log.info(
        "server_started",
        version=__version__,
        host=settings.host,
        auth_port=auth.sockname()[1],
        acct_port=acct.sockname()[1],
        database=db_engine.dialect.name,
        customers=len(directory.members),
        clients=len(directory.clients),
        ready=directory.ready,
        # Public: instances sharing a database must show the same one.
        throttle_key_id=guard.key_id,
    )
    flusher = asyncio.create_task(_flush_logs_periodically(stop))
    sync_task = asyncio.create_task(sync.run())
    guard_task = asyncio.create_task(guard.run(settings.sync_interval))
    try:
        await stop.wait()
    finally:
        log.info("server_stopping")
        for endpoint in (auth, acct):
            endpoint.flush_pending()
            endpoint.close()
        sync.stop()
        guard.stop()
        await sync_task
        await guard_task
        await flusher
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        db_engine.dispose()
        log.info("server_stopped")
