"""Real 802.1X equipment for end-to-end tests: hostapd as the access point, wpa_supplicant as
the members' devices, talking EAPOL over a veth pair; hostapd talks RADIUS (authentication,
accounting, Dynamic Authorization) to the server under test over loopback.

Topology (one lab; every name carries the lab's tag, ``wl`` + pid + random, so two runs
never collide)::

    root namespace                          namespace <tag> (the "devices")
    hostapd -- <tag>a ==== veth ==== <tag>u --+-- <tag>d1 (macvlan) -- wpa_supplicant
       |  RADIUS auth/acct -> 127.0.0.1        +-- <tag>d2 (macvlan) -- wpa_supplicant
       |  DAS (RFC 5176) <- 127.0.0.1:<das_port>

Each device is a macvlan (mode private) on the namespace's end of the veth, with its own
MAC address, so one hostapd (one NAS, one DAS port) serves several devices. hostapd runs
with ``use_pae_group_addr=0``: it answers each device at its own MAC address, so a device
never sees another one's EAP conversation (devices still send to the PAE group address,
01:80:c2:00:00:03, as IEEE 802.1X says).

What hostapd 2.10 (Debian's) does, checked in its debug log with this lab:

- Sign-in: wpa_supplicant's wired driver waits 2 s before its first EAPOL-Start (it expects
  the authenticator to start, which a wired hostapd cannot: it learns a device from its
  first frame), then PEAP/MS-CHAPv2 takes a few milliseconds on loopback. The access
  point's side of the port is authorized when the log says
  ``<ifname>: STA <mac> IEEE 802.1X: authorizing port`` (and ``AP-STA-CONNECTED <mac>``);
  the station's flags (ctrl ``STA <mac>``, what ``hostapd_cli all_sta`` prints) then hold
  ``[AUTHORIZED]``. Accounting-Start goes out at the same moment. hostapd replaces the
  EAP identity (the outer, ``anonymous``) with the User-Name of the Access-Accept.
- Accounting from hostapd: Accounting-On at start (no User-Name), Start/Stop per device,
  Accounting-Off when it exits (after a Stop for every station). Start carries User-Name
  (the accept's), NAS-IP-Address (own_ip_addr), NAS-Identifier, Called-Station-Id
  (``AA-BB-CC-DD-EE-FF:`` plus the empty SSID), NAS-Port-Type 19, Service-Type 2,
  Calling-Station-Id (the device MAC, ``AA-BB-CC-DD-EE-FF``, upper case), Connect-Info,
  Acct-Session-Id (16 upper-case hex digits), Event-Timestamp, Acct-Delay-Time. No NAS-Port,
  no Class, no Acct-Multi-Session-Id, no Message-Authenticator. Stop adds Acct-Session-Time
  and, only after an EAPOL-Logoff, Acct-Terminate-Cause 1 (User-Request); the wired driver
  counts no octets or packets. No Interim-Update unless ``radius_acct_interim_interval``
  is set (``extra_hostapd``).
- The device signing off (``Device.logoff``: EAPOL-Logoff) makes hostapd send
  Accounting-Stop and unauthorize the port. A device that merely dies (wpa_supplicant
  killed, link down) stays authorized at the access point: wired hostapd does not watch
  the link.
- A station hostapd disconnected lingers for 5 s. A device that authenticates again
  within them gets the same Acct-Session-Id as its closed session (seen after a
  Disconnect followed at once by ``Device.reauthenticate``): a Start may reuse the
  Acct-Session-Id of a stopped session.

Dynamic Authorization (``radius_das_*`` settings; src/radius/radius_das.c and
``hostapd_das_disconnect`` in src/ap/hostapd.c), what a Disconnect sender must do:

- Send from the address in ``radius_das_client`` (127.0.0.1 here); anything else is dropped
  silently. The DAS socket listens on all addresses, port ``radius_das_port``.
- Request Authenticator as for Accounting-Request (RFC 5176 2.3), and a valid
  Message-Authenticator (``radius_das_require_message_authenticator=1``); an
  Event-Timestamp within ``radius_das_time_window`` (300 s) of hostapd's clock
  (``radius_das_require_event_timestamp=1``). Failing any of these: silently dropped, no
  NAK (the sender sees a timeout).
- Only these attributes are allowed: User-Name, NAS-IP-Address, Calling-Station-Id,
  NAS-Identifier, Acct-Session-Id, Acct-Multi-Session-Id, Event-Timestamp,
  Message-Authenticator, Chargeable-User-Identity, NAS-IPv6-Address. Any other (Proxy-State,
  Acct-Terminate-Cause, Framed-IP-Address...) gets a NAK with Error-Cause 401
  (Unsupported-Attribute).
- NAS identification, when present, must equal hostapd's exactly: NAS-Identifier ==
  ``nas_identifier``, NAS-IP-Address == ``own_ip_addr``; else NAK 403 (NAS-Identification-
  Mismatch).
- Session identification (at least one, all given must match one and the same station):
  Calling-Station-Id (any MAC spelling hostapd parses: ``AA-BB-CC-DD-EE-FF`` as it sends it
  in accounting, or with colons); Acct-Session-Id (exactly the 16 hex digits of the
  accounting session); Acct-Multi-Session-Id; Chargeable-User-Identity; User-Name (compared
  with the station's identity, which is the Access-Accept's User-Name, i.e. the member's
  email here). None given, or nothing matching: NAK 503 (Session-Context-Not-Found); several
  stations matching: NAK 508 (Multiple-Session-Selection-Unsupported). So User-Name alone
  fails as soon as the member has two devices on the access point: send Calling-Station-Id
  plus Acct-Session-Id (what the accounting record holds), optionally User-Name and
  NAS-Identifier.
- On a match: Disconnect-ACK (with Event-Timestamp and Message-Authenticator). hostapd's
  log: ``DAS: Received <n> bytes from 127.0.0.1:<port>``, ``RADIUS DAS: Calling-Station-Id
  match``, ``RADIUS DAS: Found a matching session <mac> - disconnecting``, ``deauthenticate
  STA <mac>``, ``AP-STA-DISCONNECTED <mac>``, ``RADIUS: stopped accounting session <id>``,
  ``DAS: Reply to 127.0.0.1:<port>``. The station is gone from the station list at once and
  an Accounting-Stop (without Acct-Terminate-Cause) goes to the server.
  Wired 802.1X has no deauthentication frame and hostapd sends no EAP-Failure, so the
  device's wpa_supplicant still reports ``suppPortStatus=Authorized`` until it talks again
  (``Device.reauthenticate``): "the port is unauthorized" is the access point's view
  (``WiredLab.port_authorized``, ``Device.wait_unauthorized``).

Dynamic VLAN (``WiredLab(vlans=(20,))``; hostapd's src/ap/ieee802_1x.c
``ieee802_1x_update_vlan``, src/ap/sta_info.c ``ap_sta_set_vlan``, src/ap/vlan_init.c,
src/ap/vlan_full.c), what hostapd 2.10 with ``driver=wired`` does, checked with this lab:

- It reads the VLAN from the Access-Accept's RFC 3580 tunnel attributes (radius.c
  ``radius_msg_get_vlanid``): Tunnel-Type 13 (VLAN), Tunnel-Medium-Type 6 (IEEE-802) and
  Tunnel-Private-Group-Id "20", with tag 1 or tag 0 (no tag octet in the group id) alike,
  and logs ``STA <mac> RADIUS: VLAN ID 20``; ``hostapd_cli sta <mac>`` then shows
  ``vlan_id=20`` (``WiredLab.station_vlan``).
- It can only use VLANs listed in ``vlan_file`` with an interface that already exists: the
  wired driver has no ``if_add`` (a ``*`` wildcard line fails with ``could not add dynamic
  VLAN interface``, the port stays closed) and no ``set_sta_vlan``
  (src/drivers/driver_wired.c ``wpa_driver_wired_ops``; src/ap/ap_drv_ops.h
  ``hostapd_drv_set_sta_vlan`` returns 0 without one). So the lab makes one veth per VLAN
  (``vlan_ifname``) and writes ``<id> <ifname> <bridge>`` lines; at start hostapd brings the
  interface up, creates the VLAN's bridge (``vlan_bridge``) and adds the interface to it
  (``VLAN: br_addbr``, ``VLAN: br_addif``). ``vlan_tagged_interface`` (an 802.1Q uplink
  ``<if>.20``) needs the kernel's 8021q support, which the test machine lacks ("failed to
  create link ... Operation not supported"), so the lab leaves it out.
- A VLAN the access point does not know (an Accept with "30") is refused:
  ``RADIUS: Invalid VLAN 30 received from RADIUS server``, EAP-Success is withheld and the
  port stays closed. With ``dynamic_vlan=2`` (``vlan_required``) an Accept without a VLAN
  is refused too (``did not include required VLAN ID``).
- What it cannot do with the wired driver: move the station's frames. All devices share the
  one wired port and the driver has no per-station VLAN call, so "the device is on VLAN 20"
  is hostapd's station state (``vlan_id=20``), like "authorized" is (the wired driver
  does not filter frames either). When the station leaves, hostapd tears the VLAN's bridge
  down (``vlan_remove_dynamic``), also for these static entries.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import Cli, require_tool, skip_or_fail
from tests.integration.server_process import ServerProcess, running_server

# How often the waits look again: hostapd and wpa_supplicant answer their control sockets
# in well under a millisecond, and a sign-in takes a few milliseconds after its 2 s start.
POLL_SECONDS = 0.02
DEFAULT_SECRET = "wired-lab-secret-0123456789"
LAB_HOSTNAME = "radius.test.lan"
TOOLS = ("ip", "hostapd", "wpa_supplicant", "radclient")


def require_lab() -> None:
    """Skip (fail under CI=true) unless we may build the lab: root and the Debian tools."""
    for tool in TOOLS:
        require_tool(tool)
    if os.geteuid() != 0:
        skip_or_fail("the wired lab needs root (network namespaces, veth pairs)")


def free_udp_port() -> int:
    """A UDP port free on every address (hostapd's DAS socket binds 0.0.0.0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def calling_station_id(mac: str) -> str:
    """A MAC address the way hostapd writes Calling-Station-Id: ``AA-BB-CC-DD-EE-FF``."""
    return mac.replace(":", "-").upper()


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _quoted(name: str, value: str) -> str:
    # wpa_supplicant's quoted strings end at the next quote and cannot span lines.
    if '"' in value or "\n" in value or "\r" in value:
        raise ValueError(f"{name} cannot contain quotes or line breaks in a wpa_supplicant file")
    return f'"{value}"'


def _stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """SIGTERM, wait, SIGKILL: only the process we started, by its pid."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    diagnostics: Callable[[], str] | None = None,
) -> float:
    """Poll ``check()`` until it is true; the seconds it took, or AssertionError after
    ``timeout`` with ``diagnostics()`` (the logs) in the message."""
    started = time.monotonic()
    deadline = started + timeout
    error: OSError | None = None
    while True:
        try:
            if check():
                return time.monotonic() - started
        except OSError as exc:  # a control socket not there (yet, or any more): not yet
            error = exc
        if time.monotonic() >= deadline:
            detail = diagnostics() if diagnostics is not None else ""
            last = f" (last error: {error!r})" if error is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{last}\n{detail}")
        time.sleep(POLL_SECONDS)


class Ctrl:
    """A client of a hostapd / wpa_supplicant control socket (what hostapd_cli and wpa_cli
    speak: one datagram per command, one reply)."""

    _ids = itertools.count(1)

    def __init__(self, path: Path, local_dir: Path) -> None:
        self.path = path
        self.local_dir = local_dir

    def request(self, command: str, timeout: float = 3.0) -> str:
        """Send one command; its reply (``FAIL``, ``OK``, or text)."""
        local = self.local_dir / f"c{os.getpid()}-{next(self._ids)}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(local))
            try:
                sock.settimeout(timeout)
                sock.connect(str(self.path))
                sock.send(command.encode())
                while True:
                    reply = sock.recv(65536).decode(errors="replace")
                    if not reply.startswith("<"):  # "<3>EVENT": unsolicited, not our reply
                        return reply
            finally:
                local.unlink(missing_ok=True)

    def ready(self) -> bool:
        """True once the daemon answers PING."""
        try:
            return self.request("PING", timeout=0.5).strip() == "PONG"
        except OSError:
            return False


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


@dataclass(frozen=True)
class DasReply:
    """What came back to a Dynamic Authorization request sent with radclient."""

    code: str | None  # "Disconnect-ACK", "Disconnect-NAK", or None: no answer (dropped)
    attributes: dict[str, str]  # as radclient prints them, e.g. Error-Cause
    output: str  # radclient's whole output, for assertion messages
    seconds: float  # from sending to radclient's exit

    @property
    def error_cause(self) -> str | None:
        """The NAK's Error-Cause as radclient names it (``Session-Context-Not-Found``)."""
        return self.attributes.get("Error-Cause")


class LogFile:
    """A daemon's debug log (``-f file -t``): waits on it and reads its timestamps."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        """The whole log so far."""
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """A position: pass as ``since`` to look only at what is logged after now."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def search(self, pattern: str, since: int = 0) -> re.Match[str] | None:
        """The first line after ``since`` that matches the regular expression ``pattern``."""
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode(errors="replace")
            return re.search(f"^.*(?:{pattern}).*$", text, re.MULTILINE)
        return None

    def wait_for(self, pattern: str, timeout: float = 10.0, since: int = 0) -> str:
        """Wait for a line matching ``pattern`` (after ``since``); return the line."""
        found: list[re.Match[str]] = []

        def check() -> bool:
            match = self.search(pattern, since)
            if match is not None:
                found.append(match)
            return match is not None

        _wait(f"/{pattern}/ in {self.path.name}", check, timeout, lambda: self.tail())
        return found[0].group(0)

    def time_of(self, line: str) -> float:
        """The ``-t`` timestamp (seconds since the epoch) a log line starts with."""
        return float(line.split(":", 1)[0])

    def tail(self, lines: int = 60) -> str:
        """The end of the log, hex dumps left out."""
        kept = [
            line
            for line in self.text().splitlines()
            if not re.match(r"^\s+[0-9a-f]{2} ", line) and "hexdump" not in line
        ]
        return f"--- {self.path.name} (last {lines} lines) ---\n" + "\n".join(kept[-lines:])


class Device:
    """One member's device: wpa_supplicant on its own macvlan in the lab's namespace."""

    def __init__(
        self,
        lab: WiredLab,
        ifname: str,
        mac: str,
        identity: str,
        proc: subprocess.Popen[bytes],
        ctrl: Ctrl,
        log: LogFile,
        started_at: float,
    ) -> None:
        self.lab = lab
        self.ifname = ifname
        self.mac = mac  # lower case with colons, as hostapd's station list writes it
        self.identity = identity
        self.proc = proc
        self.ctrl = ctrl
        self.log = log
        self.started_at = started_at  # time.monotonic() when wpa_supplicant was started

    @property
    def calling_station_id(self) -> str:
        """This device's MAC as hostapd sends it in Calling-Station-Id."""
        return calling_station_id(self.mac)

    def status(self) -> dict[str, str]:
        """wpa_supplicant's STATUS (``wpa_cli status``): ``suppPortStatus``, ``EAP state``,
        ``Supplicant PAE state``..."""
        return _fields(self.ctrl.request("STATUS"))

    def supplicant_authorized(self) -> bool:
        """The device's own view: ``suppPortStatus=Authorized``."""
        return self.status().get("suppPortStatus") == "Authorized"

    def eap_failed(self) -> bool:
        """The device got an EAP-Failure (a rejected sign-in): ``EAP state=FAILURE``."""
        return self.status().get("EAP state") == "FAILURE"

    def wait_authorized(self, timeout: float = 15.0) -> float:
        """Wait until both sides agree the port is authorized; the seconds waited."""
        return _wait(
            f"{self.mac} authorized",
            lambda: self.supplicant_authorized() and self.lab.port_authorized(self.mac),
            timeout,
            self.diagnostics,
        )

    def wait_unauthorized(self, timeout: float = 10.0) -> float:
        """Wait until the access point's port for this device is unauthorized (station
        gone, or without ``[AUTHORIZED]``); the seconds waited. See the module docstring:
        after a Disconnect the device itself does not know yet."""
        return _wait(
            f"{self.mac} unauthorized at the access point",
            lambda: not self.lab.port_authorized(self.mac),
            timeout,
            self.diagnostics,
        )

    def wait_failed(self, timeout: float = 15.0) -> float:
        """Wait until the device got an EAP-Failure and its port is unauthorized."""
        return _wait(
            f"{self.mac} EAP failure",
            lambda: (
                self.eap_failed()
                and not self.supplicant_authorized()
                and not self.lab.port_authorized(self.mac)
            ),
            timeout,
            self.diagnostics,
        )

    def logoff(self) -> None:
        """Sign off (EAPOL-Logoff): hostapd unauthorizes the port and sends Accounting-Stop."""
        self._command("LOGOFF")

    def logon(self, timeout: float = 10.0) -> None:
        """Sign in again after ``logoff`` (EAPOL-Start after wpa_supplicant's 2 s delay).

        After a logoff hostapd keeps the station, disabled, for 5 s
        (AP_MAX_INACTIVITY_AFTER_DEAUTH) and ignores an EAPOL-Start meanwhile; the device
        would then wait 30 s (startPeriod) to try again. So wait until hostapd has
        forgotten the station first."""
        _wait(
            f"hostapd to forget {self.mac}",
            lambda: self.lab.station(self.mac) is None,
            timeout,
            self.diagnostics,
        )
        self._command("LOGON")

    def reauthenticate(self) -> None:
        """Start a new EAP authentication now (EAPOL-Start at once), as a device does when
        the access point asks it to or it roams back."""
        self._command("REAUTHENTICATE")

    def _command(self, command: str) -> None:
        reply = self.ctrl.request(command).strip()
        if reply != "OK":
            raise RuntimeError(f"wpa_supplicant {command}: {reply}")

    def stop(self, logoff: bool = True) -> None:
        """Sign off (unless ``logoff`` is false: a device that vanishes), stop wpa_supplicant
        and remove the device's interface."""
        if logoff and self.proc.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                self.logoff()
                with contextlib.suppress(AssertionError):
                    self.wait_unauthorized(timeout=5)
        _stop_process(self.proc)
        _run("ip", "-n", self.lab.netns, "link", "del", self.ifname, check=False)
        if self in self.lab.devices:
            self.lab.devices.remove(self)

    def diagnostics(self) -> str:
        """Both daemons' recent logs and states, for assertion messages."""
        try:
            status = self.ctrl.request("STATUS", timeout=1)
        except OSError as exc:
            status = f"(no status: {exc})"
        return (
            f"--- {self.ifname} status ---\n{status}\n{self.log.tail()}\n{self.lab.diagnostics()}"
        )


@dataclass
class WiredLab:
    """hostapd (driver=wired) on a veth pair, devices in a network namespace.

    Use as a context manager; everything it made (processes, namespace, links, files) is
    removed on exit, also after a failure. ``auth_port``/``acct_port``: the server under
    test on 127.0.0.1; ``secret``: the RADIUS secret registered for the NAS 127.0.0.1/32;
    ``ca_cert``: the CA the devices trust; ``work_dir``: configuration files and logs (a
    pytest ``tmp_path``; they stay for reading after a failure).
    """

    auth_port: int
    acct_port: int
    ca_cert: Path
    work_dir: Path
    secret: str = DEFAULT_SECRET
    das_secret: str | None = None  # default: ``secret`` (radius_clients.coa_secret NULL)
    das_port: int | None = None  # default: a free one
    nas_identifier: str | None = None  # default: the lab's name
    server_hostname: str | None = LAB_HOSTNAME  # devices check it (domain_match); None: off
    extra_hostapd: Mapping[str, str] = field(default_factory=dict)
    own_ip_addr: str = "127.0.0.1"
    # Dynamic VLAN (see the module docstring): the VLAN ids this access point knows;
    # empty: dynamic_vlan off. ``vlan_required``: dynamic_vlan=2, an Accept without a
    # VLAN is refused by the access point.
    vlans: tuple[int, ...] = ()
    vlan_required: bool = False

    def __post_init__(self) -> None:
        # Interface names are at most 15 characters: "wl" + pid + 4 hex digits + "d99".
        self.name = f"wl{os.getpid():x}{secrets.token_hex(2)}"[:12]
        self.netns = self.name
        self.ap_ifname = f"{self.name}a"
        self.uplink_ifname = f"{self.name}u"
        if self.nas_identifier is None:
            self.nas_identifier = f"lab-{self.name}"
        if self.das_secret is None:
            self.das_secret = self.secret
        self.devices: list[Device] = []
        self.hostapd: subprocess.Popen[bytes] | None = None
        self.hostapd_log = LogFile(self.work_dir / f"{self.name}-hostapd.log")
        self._run_dir: Path | None = None
        self._made_netns = False
        self._next_device = 1
        self._ctrl: Ctrl | None = None

    # -- life cycle ----------------------------------------------------------------

    def __enter__(self) -> WiredLab:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(raising=exc[0] is None)

    def start(self) -> None:
        """Make the namespace and the veth pair, start hostapd, wait until it serves."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Unix socket paths are limited to 107 bytes: the control sockets live in a short
        # private directory, not under pytest's long tmp_path.
        self._run_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir="/tmp"))
        _run("ip", "netns", "add", self.netns)
        self._made_netns = True
        _run(
            "ip",
            "link",
            "add",
            self.ap_ifname,
            "type",
            "veth",
            "peer",
            "name",
            self.uplink_ifname,
            "netns",
            self.netns,
        )
        _run("ip", "link", "set", self.ap_ifname, "up")
        _run("ip", "-n", self.netns, "link", "set", self.uplink_ifname, "up")
        _run("ip", "-n", self.netns, "link", "set", "lo", "up")
        self._make_vlan_links()
        fixed_port = self.das_port is not None
        for attempt in range(5):
            if not fixed_port:
                self.das_port = free_udp_port()
            if self._start_hostapd():
                return
            # The one start-up failure worth a retry: another process took the DAS port
            # between free_udp_port() and hostapd's bind.
            if fixed_port or "RADIUS DAS: bind" not in self.hostapd_log.text() or attempt == 4:
                raise RuntimeError("hostapd did not start\n" + self.hostapd_log.tail(80))

    def _hostapd_conf(self) -> str:
        assert self._run_dir is not None
        settings = {
            "interface": self.ap_ifname,
            "driver": "wired",
            "ieee8021x": "1",
            "eapol_version": "2",
            # Answer each device at its own MAC (not the PAE group address), so devices
            # sharing the segment never see each other's EAP conversation.
            "use_pae_group_addr": "0",
            "ctrl_interface": str(self._run_dir / "hostapd"),
            "logger_stdout": "-1",
            "logger_stdout_level": "0",
            "auth_server_addr": "127.0.0.1",
            "auth_server_port": str(self.auth_port),
            "auth_server_shared_secret": self.secret,
            "acct_server_addr": "127.0.0.1",
            "acct_server_port": str(self.acct_port),
            "acct_server_shared_secret": self.secret,
            "own_ip_addr": self.own_ip_addr,
            "nas_identifier": str(self.nas_identifier),
            "radius_das_port": str(self.das_port),
            "radius_das_client": f"127.0.0.1 {self.das_secret}",
            "radius_das_require_event_timestamp": "1",
            "radius_das_require_message_authenticator": "1",
            **self._vlan_settings(),
            **self.extra_hostapd,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    # -- dynamic VLAN ----------------------------------------------------------------

    def vlan_ifname(self, vlan_id: int) -> str:
        """The access point's interface for ``vlan_id`` (the lab makes it: a veth whose
        peer is in the namespace), as the vlan_file names it."""
        return f"{self.name}v{self.vlans.index(vlan_id) + 1}"

    def vlan_bridge(self, vlan_id: int) -> str:
        """The bridge hostapd makes for ``vlan_id`` and puts ``vlan_ifname`` in."""
        return f"{self.name}b{self.vlans.index(vlan_id) + 1}"

    def _make_vlan_links(self) -> None:
        # hostapd's wired driver cannot create interfaces (no if_add): each VLAN's
        # interface must exist before hostapd starts (vlan_if_add accepts an existing
        # one). Its peer lives in the namespace, so deleting the namespace deletes both.
        for index, vlan_id in enumerate(self.vlans, start=1):
            if not 1 <= vlan_id <= 4094:
                raise ValueError(f"VLAN id {vlan_id} is not within 1-4094")
            _run(
                *("ip", "link", "add", self.vlan_ifname(vlan_id), "type", "veth"),
                *("peer", "name", f"vlan{index}", "netns", self.netns),
            )

    def _vlan_settings(self) -> dict[str, str]:
        if not self.vlans:
            return {}
        vlan_file = self.work_dir / f"{self.name}-hostapd.vlan"
        # "<vlan id> <interface> <bridge>": static entries, no "*" wildcard (a wildcard
        # makes hostapd create the interface, which the wired driver cannot).
        vlan_file.write_text(
            "".join(
                f"{vlan_id} {self.vlan_ifname(vlan_id)} {self.vlan_bridge(vlan_id)}\n"
                for vlan_id in self.vlans
            )
        )
        return {
            "dynamic_vlan": "2" if self.vlan_required else "1",
            "vlan_file": str(vlan_file),
        }

    def station_vlan(self, mac: str) -> int | None:
        """The VLAN hostapd assigned the station (``vlan_id=`` of ``hostapd_cli sta``),
        None without one (or without the station)."""
        station = self.station(mac)
        if station is None or "vlan_id" not in station:
            return None
        return int(station["vlan_id"])

    def bridge_ports(self, bridge: str) -> set[str]:
        """The interfaces in ``bridge`` (empty if there is no such bridge)."""
        ports = Path("/sys/class/net", bridge, "brif")
        return set(os.listdir(ports)) if ports.is_dir() else set()

    def _start_hostapd(self) -> bool:
        assert self._run_dir is not None
        conf = self.work_dir / f"{self.name}-hostapd.conf"
        conf.write_text(self._hostapd_conf())
        self.hostapd_log.path.unlink(missing_ok=True)
        tool = shutil.which("hostapd") or "hostapd"
        self.hostapd = subprocess.Popen(
            [tool, "-dd", "-t", "-f", str(self.hostapd_log.path), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ctrl = Ctrl(self._run_dir / "hostapd" / self.ap_ifname, self._run_dir)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.hostapd.poll() is not None:
                return False
            if self._ctrl.ready() and _fields(self._ctrl.request("STATUS")).get("state") == (
                "ENABLED"
            ):
                return True
            time.sleep(POLL_SECONDS)
        _stop_process(self.hostapd)
        return False

    def close(self, raising: bool = False) -> None:
        """Stop every process and remove the namespace, links and the socket directory.

        Every step runs even if an earlier one failed; with ``raising`` the first
        failure is raised at the end (never on top of a test's own failure)."""
        errors: list[str] = []
        for device in list(self.devices):
            try:
                device.stop(logoff=False)
            except Exception as exc:  # cleanup goes on; reported below
                errors.append(f"device {device.ifname}: {exc}")
        if self.hostapd is not None:
            try:
                _stop_process(self.hostapd)
            except Exception as exc:
                errors.append(f"hostapd: {exc}")
        if self._made_netns:
            # Deleting the namespace deletes the macvlans and the veth end in it, and with
            # it its peer in the root namespace.
            done = _run("ip", "netns", "del", self.netns, check=False)
            if done.returncode != 0:
                errors.append(f"ip netns del {self.netns}: {done.stderr.strip()}")
            self._made_netns = False
        # hostapd removes its VLAN bridges when it exits; a killed one leaves them.
        for link in [self.ap_ifname] + [self.vlan_bridge(v) for v in self.vlans]:
            if _link_exists(link):
                _run("ip", "link", "del", link, check=False)
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
        # The kernel tears a namespace down in the background: give it a moment.
        deadline = time.monotonic() + 5
        while (left := leftovers(self.name)) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if left:
            errors.append("left behind: " + ", ".join(left))
        if errors and raising:
            raise RuntimeError("wired lab cleanup failed: " + "; ".join(errors))

    # -- devices -------------------------------------------------------------------

    def start_device(
        self,
        identity: str,
        password: str,
        *,
        eap: str = "PEAP",
        phase2: str = "auth=MSCHAPV2",
        anonymous_identity: str | None = "anonymous",
        mac: str | None = None,
        ca_cert: Path | None = None,
        extra_network: Mapping[str, str] | None = None,
    ) -> Device:
        """Plug a new device in: a macvlan with its own MAC in the namespace and
        wpa_supplicant (driver=wired, key_mgmt=IEEE8021X) on it. Returns at once; call
        ``wait_authorized`` (or ``wait_failed``)."""
        assert self._run_dir is not None, "the lab is not started"
        index = self._next_device
        self._next_device += 1
        ifname = f"{self.name}d{index}"
        mac = (mac or "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))).lower()
        _run(
            "ip",
            "-n",
            self.netns,
            "link",
            "add",
            "link",
            self.uplink_ifname,
            "name",
            ifname,
            "address",
            mac,
            "type",
            "macvlan",
            "mode",
            "private",
        )
        _run("ip", "-n", self.netns, "link", "set", ifname, "up")
        network = {
            "key_mgmt": "IEEE8021X",
            "eap": eap,
            "identity": _quoted("identity", identity),
            "password": _quoted("password", password),
            "ca_cert": _quoted("ca_cert", str(ca_cert or self.ca_cert)),
            "phase2": _quoted("phase2", phase2),
            "eapol_flags": "0",
        }
        if anonymous_identity is not None:
            network["anonymous_identity"] = _quoted("anonymous_identity", anonymous_identity)
        if self.server_hostname:
            network["domain_match"] = _quoted("domain_match", self.server_hostname)
        network.update(extra_network or {})
        ctrl_dir = self._run_dir / "wpas"
        conf = self.work_dir / f"{ifname}-wpas.conf"
        conf.write_text(
            f"ctrl_interface={ctrl_dir}\nap_scan=0\neapol_version=2\nnetwork={{\n"
            + "".join(f"  {key}={value}\n" for key, value in network.items())
            + "}\n"
        )
        conf.chmod(0o600)
        log = LogFile(self.work_dir / f"{ifname}-wpas.log")
        log.path.unlink(missing_ok=True)
        tool = shutil.which("wpa_supplicant") or "wpa_supplicant"
        started_at = time.monotonic()
        # "ip netns exec" execs wpa_supplicant: the pid we hold is wpa_supplicant's.
        proc = subprocess.Popen(
            [
                *("ip", "netns", "exec", self.netns, tool, "-D", "wired", "-i", ifname),
                *("-c", str(conf), "-dd", "-t", "-f", str(log.path)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        device = Device(
            self,
            ifname,
            mac,
            identity,
            proc,
            Ctrl(ctrl_dir / ifname, self._run_dir),
            log,
            started_at,
        )
        self.devices.append(device)
        _wait(
            f"wpa_supplicant on {ifname}",
            lambda: proc.poll() is not None or device.ctrl.ready(),
            10,
            log.tail,
        )
        if proc.poll() is not None:
            raise RuntimeError(f"wpa_supplicant on {ifname} exited\n{log.tail()}")
        return device

    # -- the access point's view -----------------------------------------------------

    def hostapd_command(self, command: str) -> str:
        """One hostapd control command (``STATUS``, ``STA <mac>``, ``MIB``...)."""
        assert self._ctrl is not None, "the lab is not started"
        return self._ctrl.request(command)

    def stations(self) -> dict[str, dict[str, str]]:
        """hostapd's station table (``hostapd_cli all_sta``): MAC -> its fields
        (``flags`` holds ``[AUTHORIZED]`` once the port is authorized)."""
        out: dict[str, dict[str, str]] = {}
        reply = self.hostapd_command("STA-FIRST")
        while reply and reply.strip() not in ("", "FAIL"):
            mac, _, rest = reply.partition("\n")
            mac = mac.strip()
            if mac in out:
                break
            out[mac] = _fields(rest)
            reply = self.hostapd_command(f"STA-NEXT {mac}")
        return out

    def station(self, mac: str) -> dict[str, str] | None:
        """One station's fields (``hostapd_cli sta <mac>``), or None if hostapd has none."""
        reply = self.hostapd_command(f"STA {mac.lower()}")
        if reply.strip() in ("", "FAIL"):
            return None
        return _fields(reply.partition("\n")[2])

    def port_authorized(self, mac: str) -> bool:
        """Whether the access point's port for ``mac`` is authorized."""
        station = self.station(mac)
        return station is not None and "[AUTHORIZED]" in station.get("flags", "")

    def authorized_stations(self) -> set[str]:
        """MACs (lower case, colons) whose port is authorized."""
        return {
            mac for mac, info in self.stations().items() if "[AUTHORIZED]" in info.get("flags", "")
        }

    def log_mark(self) -> int:
        """A position in hostapd's log, for ``wait_for_log(..., since=)``."""
        return self.hostapd_log.mark()

    def wait_for_log(self, pattern: str, timeout: float = 10.0, since: int = 0) -> str:
        """Wait for a hostapd log line matching the regular expression; return it.

        Useful lines: ``STA <mac> IEEE 802.1X: authorizing port``, ``AP-STA-CONNECTED
        <mac>``, ``RADIUS DAS: Found a matching session <mac>``, ``AP-STA-DISCONNECTED
        <mac>``, ``STA <mac> RADIUS: stopped accounting session <id>``."""
        return self.hostapd_log.wait_for(pattern, timeout, since)

    def acct_session_id(self, mac: str) -> str | None:
        """The station's accounting session (Acct-Session-Id) as hostapd's log names it."""
        pattern = rf"STA {re.escape(mac.lower())} RADIUS: starting accounting session (\w+)"
        found = re.findall(pattern, self.hostapd_log.text())
        return found[-1] if found else None

    def diagnostics(self) -> str:
        """hostapd's recent log and station table, for assertion messages."""
        try:
            table = str(self.stations())
        except OSError as exc:
            table = f"(no station table: {exc})"
        return f"--- hostapd stations ---\n{table}\n{self.hostapd_log.tail()}"

    # -- Dynamic Authorization -----------------------------------------------------

    def disconnect(
        self,
        attributes: Mapping[str, str | int | None],
        timeout: float = 3.0,
        secret: str | None = None,
    ) -> DasReply:
        """Send a Disconnect-Request to hostapd's DAS with Debian's radclient.

        ``attributes`` by dictionary name (``{"Calling-Station-Id": device.calling_station_id}``);
        Event-Timestamp (now) and Message-Authenticator are added unless given (None: leave
        it out). ``secret``: another DAS secret than the lab's (to see a drop)."""
        return self.das_request("disconnect", attributes, timeout, secret)

    def das_request(
        self,
        kind: str,
        attributes: Mapping[str, str | int | None],
        timeout: float = 3.0,
        secret: str | None = None,
    ) -> DasReply:
        """``disconnect`` or ``coa`` through radclient; see ``disconnect``."""
        pairs: dict[str, str | int | None] = {
            "Event-Timestamp": int(time.time()),
            "Message-Authenticator": "0x00",
            **attributes,
        }
        text = ", ".join(
            _radclient_pair(name, value) for name, value in pairs.items() if value is not None
        )
        started = time.monotonic()
        proc = subprocess.run(
            [
                *("radclient", "-x", "-r", "1", "-t", str(timeout)),
                *(f"127.0.0.1:{self.das_port}", kind, str(secret or self.das_secret)),
            ],
            input=text + "\n",
            capture_output=True,
            text=True,
            timeout=timeout + 10,
            check=False,
        )
        seconds = time.monotonic() - started
        output = proc.stdout + proc.stderr
        code = None
        received: dict[str, str] = {}
        match = re.search(r"^Received (\S+) Id", output, re.MULTILINE)
        if match:
            code = match.group(1)
            for line in output[match.end() :].splitlines()[1:]:
                if not line.startswith(("\t", " ")):
                    break
                name, _, value = line.strip().partition(" = ")
                received[name] = value.strip('"')
        return DasReply(code, received, output, seconds)


def _radclient_pair(name: str, value: str | int) -> str:
    # Integers and octets (0x...) go bare; text is quoted with its backslashes and quotes
    # escaped, as radclient reads it.
    if isinstance(value, int) or value.startswith("0x"):
        return f"{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def leftovers(name: str) -> list[str]:
    """What a lab called ``name`` left behind: its namespace, links, processes, sockets."""
    found: list[str] = []
    listing = _run("ip", "netns", "list", check=False).stdout
    if any(line.split(" ")[0] == name for line in listing.splitlines()):
        found.append(f"netns {name}")
    found += [f"link {link}" for link in os.listdir("/sys/class/net") if link.startswith(name)]
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if name.encode() in cmdline and (b"hostapd" in cmdline or b"wpa_supplicant" in cmdline):
            found.append(f"process {pid}: {cmdline.decode(errors='replace').strip()}")
    found += [f"dir /tmp/{entry}" for entry in os.listdir("/tmp") if entry.startswith(name + "-")]
    return found


# -- the server side ---------------------------------------------------------------------


@dataclass
class LabSite:
    """The server under test, set up for the lab: one NAS (127.0.0.1/32), a certificate."""

    server: ServerProcess
    cli: Cli
    secret: str
    ca_cert: Path
    work: Path

    def lab(self, work_dir: Path | None = None, **options: Any) -> WiredLab:
        """A ``WiredLab`` pointed at this server (use it with ``with``); ``options`` are
        ``WiredLab``'s (``das_port``, ``nas_identifier``...)."""
        return WiredLab(
            auth_port=self.server.auth_port,
            acct_port=self.server.acct_port,
            ca_cert=self.ca_cert,
            work_dir=work_dir or self.work / "lab",
            secret=self.secret,
            **options,
        )

    @contextlib.contextmanager
    def lab_with_das(self, work_dir: Path, nas_name: str = "lab") -> Iterator[WiredLab]:
        """A started lab whose DAS port the NAS record names (``nas update --coa-port``),
        so the server sends it Disconnect- and CoA-Requests."""
        das_port = free_udp_port()
        done = self.cli("nas", "update", nas_name, "--coa-port", str(das_port))
        assert done.code == 0, done.err
        with self.lab(work_dir=work_dir, das_port=das_port) as made:
            yield made


@contextlib.contextmanager
def lab_site(
    database_url: str,
    work: Path,
    members: Mapping[str, str],
    *,
    secret: str = DEFAULT_SECRET,
    nas_name: str = "lab",
    upgrade: bool = False,
    **server_env: str,
) -> Iterator[LabSite]:
    """``radius-server serve`` on 127.0.0.1 with free ports, NAS ``nas_name`` =
    127.0.0.1/32 with ``secret``, ``members`` (email -> PIN) and a generated certificate for
    ``LAB_HOSTNAME``. ``upgrade``: run ``db upgrade`` first (PostgreSQL; SQLite migrates
    itself). ``server_env``: extra ``RADIUS_*`` settings."""
    cli = Cli(database_url, work)
    if upgrade:
        done = cli("db", "upgrade")
        assert done.code == 0, done.err
    done = cli("nas", "add", nas_name, "--address", "127.0.0.1/32", "--secret", secret)
    assert done.code == 0, done.err
    for email, pin in members.items():
        done = cli("customer", "add", email, "--pin", pin)
        assert done.code == 0, done.err
    done = cli("certs", "generate", "--hostname", LAB_HOSTNAME)
    assert done.code == 0, done.err
    data_dir = work / "data"
    with running_server(database_url, data_dir, **server_env) as server:
        server.wait_for("eap_enabled")
        yield LabSite(server, cli, secret, data_dir / "certs" / "ca.pem", work)
