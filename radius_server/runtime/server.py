"""Wires a running server: database, directory sync, engine, UDP endpoints, signals."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from radius_server import __version__
from radius_server.config import ConfigError, Settings
from radius_server.eap.setup import EapSetup, EapSetupError, build_methods
from radius_server.logging import flush_logs, json_lines
from radius_server.rules.directory import Directory
from radius_server.rules.methods import MethodHandler
from radius_server.rules.online import OnlineDevices
from radius_server.rules.policy import session_rules
from radius_server.runtime.accounting import AccountingWriter
from radius_server.runtime.affinity import AffinityRouter, WorkerPeers
from radius_server.runtime.bounded import describe_error
from radius_server.runtime.decisions import DecisionRecorder
from radius_server.runtime.disconnector import Disconnector
from radius_server.runtime.engine import Engine, EngineOptions
from radius_server.runtime.guard import Guard, instance_name, throttle_settings
from radius_server.runtime.listener import WakeupSource
from radius_server.runtime.log_flusher import LogFlusher
from radius_server.runtime.metrics import ServerProbe
from radius_server.runtime.metrics_http import MetricsServer, ServerEndpoints, serve_tcp, serve_unix
from radius_server.runtime.notifications import make_listener
from radius_server.runtime.online import SessionFollower, observe_rows
from radius_server.runtime.plan_change import plan_loader
from radius_server.runtime.snapshot_file import SnapshotFile
from radius_server.runtime.spool import Spool, SpoolError
from radius_server.runtime.stale_sessions import SessionUpkeep, stale_after
from radius_server.runtime.sync import FULL_LOAD_DEADLINES, DirectorySync
from radius_server.runtime.throttle_key import load_throttle_key
from radius_server.runtime.transport import open_endpoint
from radius_server.store import database
from radius_server.store.database import check_schema
from radius_server.store.decisions import DecisionStore
from radius_server.store.disconnects import DisconnectQueue
from radius_server.store.errors import SchemaNotReady
from radius_server.store.feed import ChangeFeed
from radius_server.store.sessions import SessionStore
from radius_server.store.throttle_log import ThrottleLog


class StartupRefused(Exception):
    """Neither the database nor a snapshot gave a directory: serving would reject everyone."""


async def load_directory(settings: Settings, db_engine: Any, sync: DirectorySync) -> bool:
    """Load from the database, else from the snapshot file; True when it came from the database.

    Raises StartupRefused when neither works, SchemaNotReady when the database
    needs ``db upgrade``. Every step is bounded: a frozen database costs seconds.
    """
    try:
        # SQLite may migrate here, which takes as long as it takes.
        migrating = db_engine.dialect.name == "sqlite"
        await sync.calls.run(
            check_schema,
            db_engine,
            deadline=database.MIGRATION_TIMEOUT_SECONDS if migrating else None,
        )
    except SchemaNotReady:
        raise
    except Exception as exc:
        problem = describe_error(exc)
    else:
        await sync.poll_once()
        if sync.directory.ready:
            return True
        problem = sync.last_error or "unknown error"
    if sync.load_saved_view():
        return False
    path = settings.snapshot_path()
    raise StartupRefused(
        f"{problem}; and no snapshot to serve from "
        + (f"at {path}" if path else "(snapshot_enabled is off)")
    )


def _build_methods(
    settings: Settings, log: Any, directory: Directory | None = None
) -> dict[str, MethodHandler]:
    """The method handlers from Settings (eap/setup.py takes plain values)."""
    cert, key, chain = settings.tls_files()
    setup = EapSetup(
        cert,
        key,
        chain,
        configured=bool(settings.tls_cert_file),
        tls_min_version=settings.tls_min_version,
        tls_max_version=settings.tls_max_version,
        options=dict(
            default_method=settings.eap_default_method,
            fragment_size=settings.eap_fragment_size,
            session_timeout=settings.eap_session_timeout,
            max_sessions=settings.eap_max_sessions,
            max_resumable=settings.tls_session_cache_size,
        ),
        tls_session_lifetime=settings.tls_session_lifetime,
    )
    try:
        return build_methods(setup, log, directory)
    except EapSetupError as exc:
        raise ConfigError(str(exc)) from None


def _disconnector(
    settings: Settings, db_engine: Any, directory: Directory, log: Any, deadline: float
) -> Disconnector:
    """The RFC 5176 disconnect runner, polling the queue as often as the change feed."""
    factory = database.make_session_factory(db_engine)
    return Disconnector(
        DisconnectQueue(factory, instance_name()),
        SessionStore(factory),
        directory,
        log,
        interval=settings.sync_interval,
        deadline=deadline,
        timeouts=settings.disconnect_timeouts,
        retention_seconds=settings.session_retention_days * 86400.0,
        plan_of=plan_loader(factory),
        rules=session_rules(settings.device_limit, settings.acct_interim_interval, settings.zone()),
    )


async def _start_accounting(
    settings: Settings, sessions_engine: Any, log: Any, deadline: float
) -> AccountingWriter:
    """The accounting writer, its spool opened (what dead processes left adopted)."""
    writer = AccountingWriter(
        SessionStore(database.make_session_factory(sessions_engine)),
        Spool(settings.spool_path(), settings.accounting_spool_max_records),
        log,
        batch_max=settings.accounting_batch_max,
        deadline=deadline,
        retry_interval=max(settings.sync_interval, 1.0),
    )
    try:
        await writer.start()
    except SpoolError as exc:
        raise ConfigError(str(exc)) from None
    return writer


def _online_devices(
    settings: Settings, db_engine: Any, log: Any, deadline: float
) -> tuple[OnlineDevices, SessionFollower, SessionUpkeep]:
    """The devices-online view, its follower, and the stale-session loop (one engine)."""
    silent_for = stale_after(settings.acct_interim_interval, settings.session_stale_grace)
    # An accept counts until its Accounting-Start arrives, or for this long.
    online = OnlineDevices(max(60.0, 2 * settings.reply_cache_seconds), silent_for)
    store = SessionStore(database.make_session_factory(db_engine))
    follower = SessionFollower(
        store,
        online,
        log,
        interval=settings.sync_interval,
        deadline=deadline,
        # Reaches past a slow transaction (its statements bounded by the deadline)
        # and a few seconds of clock difference between instances.
        overlap=max(30.0, 3 * deadline),
    )
    upkeep = SessionUpkeep(
        store,
        log,
        silent_for=silent_for,
        retention_seconds=settings.session_retention_days * 86400.0,
        deadline=deadline,
        on_closed=lambda rows: observe_rows(online, rows),
    )
    return online, follower, upkeep


def _decision_recorder(
    settings: Settings, db_engine: Any, directory: Directory, log: Any, deadline: float
) -> DecisionRecorder | None:
    """The recent-decisions writer (runtime/decisions.py); None when the setting is off."""
    if not settings.decision_log_enabled or db_engine is None:
        return None

    def member_id(email: str) -> int | None:
        member = directory.members.get(email)
        return None if member is None else member.id

    return DecisionRecorder(
        DecisionStore(database.make_session_factory(db_engine)),
        log,
        member_id,
        instance=instance_name(),
        bound=settings.decision_queue_max,
        retention_seconds=settings.decision_retention_days * 86400.0,
        deadline=deadline,
    )


def _open_metrics(
    settings: Settings, probe: ServerProbe, log: Any, metrics_socket: str | None
) -> MetricsServer | None:
    """The /metrics endpoint: on the worker's Unix socket, on metrics_host:port, or none."""
    endpoints = ServerEndpoints(probe, asyncio.get_running_loop())
    if metrics_socket:
        return serve_unix(metrics_socket, endpoints, log)
    if not settings.metrics_enabled:
        return None
    server = serve_tcp(settings.metrics_host, settings.metrics_port, endpoints, log)
    log.info("metrics_started", host=settings.metrics_host, port=server.port)
    flush_logs()  # now, not at the first periodic flush: loading may take a while
    return server


async def serve(
    settings: Settings,
    log: Any,
    stop: asyncio.Event | None = None,
    *,
    reuse_port: bool = False,
    metrics_socket: str | None = None,
    peers: WorkerPeers | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then stop gracefully.

    /metrics, /healthz and /readyz answer from before the directory is loaded (not
    ready yet) until the end; ``metrics_socket`` (a worker's) replaces the TCP address.
    ``peers`` (a worker's): EAP goes to the worker owning the device (runtime/affinity.py).
    """
    probe = ServerProbe()
    metrics = _open_metrics(settings, probe, log, metrics_socket)
    try:
        await _serve(settings, log, stop, reuse_port=reuse_port, probe=probe, peers=peers)
    finally:
        if metrics is not None:
            metrics.close()


async def _serve(
    settings: Settings,
    log: Any,
    stop: asyncio.Event | None,
    *,
    reuse_port: bool,
    probe: ServerProbe,
    peers: WorkerPeers | None = None,
) -> None:
    directory = Directory()
    # EAP first: a bad certificate stops start-up before anything else is opened.
    methods = _build_methods(settings, log, directory)
    probe.eap = methods.get("eap")
    url = settings.database_url_resolved()
    db_engine = database.make_engine(url, timeout=settings.database_timeout)
    # Guessing protection shares through its own engine: a round cut by the
    # watchdog on one never cuts the other's connections.
    guard_engine = database.make_engine(url, timeout=settings.database_timeout)
    deadline = settings.database_timeout + database.WATCHDOG_GRACE_SECONDS
    snapshot_path = settings.snapshot_path()
    sync = DirectorySync(
        ChangeFeed(database.make_session_factory(db_engine)),
        directory,
        log,
        interval=settings.sync_interval,
        deadline=deadline,
        snapshot=SnapshotFile(snapshot_path) if snapshot_path else None,
        manage_gc=True,
    )
    probe.directory, probe.sync = directory, sync
    from_database = await load_directory(settings, db_engine, sync)
    guard = Guard(
        throttle_settings(settings),
        log,
        ThrottleLog(database.make_session_factory(guard_engine), instance_name()),
        key=load_throttle_key(settings),
    )
    guard.calls.deadline = deadline
    probe.guard = guard
    if not from_database:
        # Serving from the snapshot: the database is away, don't wait for it twice.
        log.warning("throttle_history_unavailable", error="DatabaseUnavailable")
    else:
        try:
            # A day of history: as long as a full directory load may take.
            await guard.calls.run(guard.load, deadline=deadline * FULL_LOAD_DEADLINES)
        except Exception as exc:  # start anyway: budgets begin empty and fill up
            log.warning("throttle_history_unavailable", error=type(exc).__name__)
    # Accounting writes through its own engine too, for the same reason.
    sessions_engine = database.make_engine(url, timeout=settings.database_timeout)
    # SQLite: the sessions triggers' statement journals (one per row written) in memory.
    database.temp_files_in_memory(sessions_engine)
    writer = await _start_accounting(settings, sessions_engine, log, deadline)
    probe.accounting = writer
    # Sessions read and closed through their own engine, like guessing protection.
    online_engine = database.make_engine(url, timeout=settings.database_timeout)
    online, follower, upkeep = _online_devices(settings, online_engine, log, deadline)
    if from_database:
        await follower.poll_once()  # the limit holds from the first request
    # Decisions write through their own engine too: a round cut by the watchdog there
    # never cuts accounting's or the directory's connections.
    decisions_engine = (
        database.make_engine(url, timeout=settings.database_timeout)
        if settings.decision_log_enabled
        else None
    )
    recorder = _decision_recorder(settings, decisions_engine, directory, log, deadline)
    engine = Engine(
        directory,
        log,
        EngineOptions(
            reply_cache_seconds=settings.reply_cache_seconds,
            reject_delay=settings.reject_delay,
            unknown_client_log_interval=settings.unknown_client_log_interval,
            stale_pin_seconds=settings.stale_pin_days * 86400.0,
            acct_interim_interval=settings.acct_interim_interval,
            device_limit=settings.device_limit,
            timezone=settings.timezone,
        ),
        guard=guard,
        methods=methods,
        accounting=writer,
        online=online,
        record_decision=None if recorder is None else recorder.record,
        lines=json_lines(),
    )
    router = None if peers is None else AffinityRouter(peers, log)
    handle_auth = engine.handle_auth if router is None else router.wrap(engine.handle_auth)
    auth = await open_endpoint(
        settings.host, settings.auth_port, handle_auth, log, "auth", reuse_port=reuse_port
    )
    if router is not None:
        router.start(auth.deliver)
        probe.affinity = router
    acct = await open_endpoint(
        settings.host, settings.acct_port, engine.handle_acct, log, "acct", reuse_port=reuse_port
    )
    engine.send = acct.send
    probe.engine = engine
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
        degraded=directory.degraded,
    )
    flusher = LogFlusher(loop)
    flusher.start()
    disconnector = _disconnector(settings, db_engine, directory, log, deadline)
    probe.disconnector = disconnector
    listener: WakeupSource | None = make_listener(
        settings, url, log, sync=sync, guard=guard, follower=follower, disconnector=disconnector
    )
    if listener is not None:
        listener.start()
    sync_task = asyncio.create_task(sync.run())
    guard_task = asyncio.create_task(guard.run(settings.sync_interval))
    online_tasks = [asyncio.create_task(follower.run()), asyncio.create_task(upkeep.run())]
    disconnect_task = asyncio.create_task(disconnector.run())
    writer_task = asyncio.create_task(writer.run())
    recorder_task = None if recorder is None else asyncio.create_task(recorder.run())
    try:
        await stop.wait()
    finally:
        log.info("server_stopping")
        for endpoint in (auth, acct):
            endpoint.flush_pending()
        if router is not None:
            router.close()
        auth.close()
        # Accounting already received is written (or spooled) and answered before exit.
        acct.stop_reading()
        writer.stop()
        await writer_task
        acct.close()
        sync.stop()
        guard.stop()
        follower.stop()
        upkeep.stop()
        disconnector.stop()
        if recorder is not None and recorder_task is not None:
            # After the auth socket closed: every decision made is queued by now.
            recorder.stop()
            await recorder_task
            recorder.close()
        await sync_task
        await guard_task
        await asyncio.gather(*online_tasks)
        await disconnect_task
        sync.calls.close()
        guard.calls.close()
        follower.calls.close()
        upkeep.calls.close()
        disconnector.close()
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        flusher.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        db_engine.dispose()
        guard_engine.dispose()
        sessions_engine.dispose()
        online_engine.dispose()
        if decisions_engine is not None:
            decisions_engine.dispose()
        log.info("server_stopped")
