"""FreeRADIUS 3.2 for the comparison: a minimal generated config, run in the foreground.

Not Debian's tree (which proxies the realm example.com and loads dozens of
modules): one client and one listener, and one of these back ends:

* ``sql``: an auth listener, pap + chap, rlm_sql on PostgreSQL reading *our*
  ``customers`` table, the PIN becoming the Cleartext-Password of the (trimmed,
  lower-cased) email, with the same member rules as ours (active, Wi-Fi access,
  validity window);
* ``files``: the same, the members in a users file, held in memory;
* ``acct``: an accounting listener, ``preacct { acct_unique }`` (Debian's
  policy, included from its tree) and ``accounting { sql }`` with Debian's
  stock PostgreSQL ``queries.conf`` on its stock ``schema.sql`` (see
  :func:`accounting_queries`).

All: reject_delay 0, require_message_authenticator = yes for the client, a
5 s duplicate cache (cleanup_delay), and either a fixed worker pool with as
many SQL connections, or (``threads=None``) Debian's default thread pool with
the stock SQL pool that follows it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

from harness import Target, free_udp_ports, start_process, stop_process, wait_ready
from loadgen import Credential

LIBDIR = Path("/usr/lib/freeradius")
RADDB = Path("/etc/freeradius/3.0")
SQL_DIR = RADDB / "mods-config/sql/main/postgresql"
APT_HINT = "apt-get install -y freeradius freeradius-postgresql"
# Workers: with SQL they block on PostgreSQL round trips, so more than the 2 cores.
DEFAULT_THREADS = 8

CHECK_QUERY = (
    "SELECT id, email, 'Cleartext-Password', pin, ':=' FROM customers "
    "WHERE email = lower(trim('%{SQL-User-Name}')) AND active AND wifi_access "
    "AND (valid_from IS NULL OR valid_from <= now()) "
    "AND (valid_until IS NULL OR valid_until > now())"
)


def find_binary() -> str | None:
    """The FreeRADIUS daemon, if it and its PostgreSQL driver are installed."""
    binary = shutil.which("freeradius") or shutil.which("radiusd")
    if binary is None and os.path.exists("/usr/sbin/freeradius"):
        binary = "/usr/sbin/freeradius"
    if binary is None or not LIBDIR.joinpath("rlm_sql_postgresql.so").exists():
        return None
    return binary


def version(binary: str) -> str:
    """E.g. 'FreeRADIUS Version 3.2.1'."""
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    for line in (done.stdout or done.stderr).splitlines():
        if "FreeRADIUS Version" in line:
            return "FreeRADIUS " + line.split("FreeRADIUS ", 1)[1].split(",")[0]
    return "FreeRADIUS (unknown version)"


# Debian's radiusd.conf thread pool (FreeRADIUS 3.2's defaults).
DEFAULT_POOL = {"start_servers": 5, "max_servers": 32, "min_spare_servers": 3, "max_spare": 10}


def _thread_pool(threads: int | None) -> str:
    if threads is None:
        return f"""
        thread pool {{
            start_servers = {DEFAULT_POOL["start_servers"]}
            max_servers = {DEFAULT_POOL["max_servers"]}
            min_spare_servers = {DEFAULT_POOL["min_spare_servers"]}
            max_spare_servers = {DEFAULT_POOL["max_spare"]}
            max_requests_per_server = 0
            auto_limit_acct = no
        }}"""
    return f"""
        thread pool {{
            start_servers = {threads}
            max_servers = {threads}
            min_spare_servers = 1
            max_spare_servers = {threads}
            max_requests_per_server = 0
            max_queue_size = 65536
        }}"""


def _sql_pool(threads: int | None) -> str:
    if threads is None:
        # mods-available/sql as shipped: the pool follows the thread pool, one
        # connection per worker at most.
        return """
        pool {
            start = ${thread[pool].start_servers}
            min = ${thread[pool].min_spare_servers}
            max = ${thread[pool].max_servers}
            spare = ${thread[pool].max_spare_servers}
            uses = 0
            retry_delay = 30
            lifetime = 0
            idle_timeout = 60
        }"""
    # One connection per worker, opened at start.
    return f"""
        pool {{
            start = {threads}
            min = {threads}
            max = {threads}
            spare = 0
            uses = 0
            retry_delay = 1
            lifetime = 0
            idle_timeout = 0
        }}"""


def accounting_queries(workdir: Path) -> Path:
    """Debian's ``queries.conf`` for PostgreSQL, Class column switched on; its path.

    The file ships with the Class lines commented out for old schemas; the stock
    ``schema.sql`` has the column, and the file's own comment says to delete the
    ``#`` on those three lines to store Class. Nothing else changes.
    """
    text = (SQL_DIR / "queries.conf").read_text(encoding="utf-8")
    for name, value in (
        ("column_name", '", Class"'),
        ("packet_xlat", "\", '%{Class}'\""),
        ("reply_xlat", "\", '%{reply:Class}'\""),
    ):
        old = f"\t{name} =\t# {value}"
        if old not in text:
            raise RuntimeError(f"{SQL_DIR / 'queries.conf'}: no commented {name} line")
        text = text.replace(old, f"\t{name} =\t{value}")
    path = workdir / "queries.conf"
    path.write_text(text, encoding="utf-8")
    return path


def _sql_module(
    database: str, host: str, port: int, user: str, threads: int | None, queries: str
) -> str:
    return f"""
    sql {{
        dialect = "postgresql"
        driver = "rlm_sql_postgresql"
        server = "{host}"
        port = {port}
        login = "{user}"
        password = ""
        radius_db = "{database}"
        read_profiles = no
        read_clients = no
        sql_user_name = "%{{User-Name}}"
        # Table names as in mods-available/sql (queries.conf refers to them).
        acct_table1 = "radacct"
        acct_table2 = "radacct"
        postauth_table = "radpostauth"
        authcheck_table = "radcheck"
        groupcheck_table = "radgroupcheck"
        authreply_table = "radreply"
        groupreply_table = "radgroupreply"
        usergroup_table = "radusergroup"
        group_attribute = "SQL-Group"
        client_table = "nas"
        delete_stale_sessions = yes{_sql_pool(threads)}
        {queries}
    }}"""


def write_config(
    confdir: Path,
    *,
    port: int,
    secret: str,
    backend: str,
    threads: int | None,
    database: tuple[str, str, int, str] | None = None,
) -> None:
    """Write ``radiusd.conf`` into ``confdir``; ``database`` = (name, host, port, user).

    ``threads`` None: Debian's default thread pool (and the stock SQL pool).
    """
    if backend == "sql":
        assert database is not None
        module = _sql_module(
            *database, threads=threads, queries=f'authorize_check_query = "{CHECK_QUERY}"'
        )
    elif backend == "acct":
        assert database is not None
        queries = accounting_queries(confdir)
        module = _sql_module(*database, threads=threads, queries=f"$INCLUDE {queries}")
        # rlm_expr: the md5, hex and tolower expansions of acct_unique and queries.conf.
        module += f"\n    $INCLUDE {RADDB}/mods-available/expr"
    else:
        module = f"""
    files {{
        filename = {confdir}/users
    }}"""
    head = textwrap.dedent(f"""\
        # Generated by bench/run.py: FreeRADIUS with the {backend} back end, benchmark only.
        prefix = /usr
        confdir = {confdir}
        raddbdir = {confdir}
        logdir = {confdir}
        run_dir = {confdir}
        libdir = {LIBDIR}
        pidfile = {confdir}/radiusd.pid
        name = radiusd
        max_request_time = 30
        # Duplicate (reply) cache: as long as ours (reply_cache_seconds = 5).
        cleanup_delay = 5
        # Requests tracked at once, those kept for cleanup_delay included.
        max_requests = 524288
        hostname_lookups = no
        log {{
            destination = stdout
            colourise = no
            auth = no
        }}
        security {{
            allow_core_dumps = no
            max_attributes = 200
            # Debian's default is 1 s; ours is 0: compare like with like.
            reject_delay = 0
            status_server = yes
        }}
        {_thread_pool(threads).strip()}
        client bench {{
            ipaddr = 127.0.0.1
            secret = {secret}
            # As our server does by default (BlastRADIUS): drop requests without it.
            require_message_authenticator = yes
        }}
        """)
    tail = _acct_server(port) if backend == "acct" else _auth_server(port, backend)
    modules = "modules {\n    pap {\n    }\n    chap {\n    }" + module + "\n}\n"
    (confdir / "radiusd.conf").write_text(head + modules + tail, encoding="utf-8")


def _acct_server(port: int) -> str:
    # Debian's accounting policies (acct_unique) from its own tree, as its default
    # site uses them; then the SQL module's accounting section.
    return textwrap.dedent(f"""
        policy {{
            $INCLUDE {RADDB}/policy.d/accounting
        }}
        server default {{
            listen {{
                type = acct
                ipaddr = 127.0.0.1
                port = {port}
            }}
            preacct {{
                acct_unique
            }}
            accounting {{
                sql
            }}
        }}
        """)


def _auth_server(port: int, backend: str) -> str:
    return textwrap.dedent(f"""
        server default {{
            listen {{
                type = auth
                ipaddr = 127.0.0.1
                port = {port}
            }}
            authorize {{
                {backend}
                pap
                chap
            }}
            authenticate {{
                Auth-Type PAP {{
                    pap
                }}
                Auth-Type CHAP {{
                    chap
                }}
            }}
        }}
        """)


def write_users(path: Path, credentials: list[Credential]) -> None:
    """rlm_files users file, one line per member (emails are stored lower-case)."""
    with path.open("w", encoding="utf-8") as handle:
        for cred in credentials:
            handle.write(f'"{cred.email}" Cleartext-Password := "{cred.pin}"\n')


@contextlib.contextmanager
def running(
    binary: str,
    workdir: Path,
    *,
    backend: str,
    secret: str,
    credentials: list[Credential] | None = None,
    threads: int | None = DEFAULT_THREADS,
    database: tuple[str, str, int, str] | None = None,
    label: str | None = None,
) -> Iterator[Target]:
    """FreeRADIUS in the foreground (``-f``), config in ``workdir``; stopped on exit.

    Ready once it accepts ``credentials[0]`` (auth back ends) or answers a
    Status-Server on its accounting port (``acct``).
    """
    label = label or f"FreeRADIUS-{backend}"
    confdir = workdir / label.replace(" ", "_")
    confdir.mkdir()
    (port,) = free_udp_ports(1)
    write_config(
        confdir, port=port, secret=secret, backend=backend, threads=threads, database=database
    )
    if backend == "files":
        write_users(confdir / "users", credentials or [])
    logfile = confdir / "radiusd.log"
    process = start_process([binary, "-f", "-d", str(confdir), "-l", "stdout"], logfile)
    target = Target(
        label=label,
        process=process,
        port=port,
        secret=secret.encode(),
        require_reply_ma=False,
        logfile=logfile,
        pg_database=database[0] if backend in ("sql", "acct") and database else None,
        acct_port=port if backend == "acct" else None,
    )
    try:
        wait_ready(target, None if backend == "acct" else (credentials or [])[0])
        yield target
    finally:
        stop_process(process)
