"""A real single-node Apache Kafka broker (KRaft), started from Maven Central jars.

No Docker and no Kafka download: `kafka_broker/pom.xml` lists the broker
(`org.apache.kafka:kafka_2.13`) and its log4j2 binding, and `ensure_kafka_jars()` runs Maven
once to copy every runtime jar into `~/.cache/ats-sim/kafka-<version>/lib` (honours
`XDG_CACHE_HOME`). Later calls find the cache and return at once.

`KafkaBroker` then runs one JVM that is both controller and broker:

    with KafkaBroker(Path("data/kafka")) as broker:
        produce_to(broker.bootstrap_servers)   # "127.0.0.1:PORT"

Everything the broker owns lives in its data dir: `server.properties`, `log4j2.properties`,
the partition data under `kafka-logs/` and the broker's stdout/stderr in `broker.log`. The first
start formats `kafka-logs/` (KRaft `--standalone`); `restart()` keeps the data dir and both
ports, so a test can stop a broker, wait, start it again and read what was written before.
A broker that fails to start raises `KafkaBrokerError` with the end of `broker.log`.

Needs Java 17+ and, until the jar cache exists, Maven; `java_available()` says what is missing.
`python -m ats_sim_testing.kafka_broker` runs a broker in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

__all__ = [
    "POM_PATH",
    "ExternalKafkaBroker",
    "KafkaBroker",
    "KafkaBrokerError",
    "ensure_kafka_jars",
    "java_available",
    "kafka_version",
    "main",
]

logger = logging.getLogger(__name__)

POM_PATH = Path(__file__).resolve().parents[1] / "kafka_broker" / "pom.xml"
"""The pom that pins the Kafka and log4j2 versions (the only place they are written)."""

MIN_JAVA = 17
LOG_TAIL_LINES = 40
_HOST = "127.0.0.1"
_NODE_ID = 1
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}

_LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
# The full config dump is long and repeated; server.properties sits beside this file.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class KafkaBrokerError(RuntimeError):
    """The Kafka jars could not be fetched, or the broker did not start or stop."""


# --------------------------------------------------------------------------- jars and tools


def kafka_version(pom: Path = POM_PATH) -> str:
    """Return the Kafka version pinned by `pom` (its `kafka.version` property)."""
    version = ET.parse(pom).getroot().findtext("m:properties/m:kafka.version", namespaces=_POM_NS)
    if not version:
        raise KafkaBrokerError(f"{pom}: no <kafka.version> property")
    return version.strip()


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ats-sim"


def _java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def _java_major(java: str) -> int | None:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def _cached_lib(pom: Path) -> Path | None:
    """The jar folder for `pom` if a complete fetch of this exact pom is cached."""
    home = _cache_root() / f"kafka-{kafka_version(pom)}"
    stamp = home / "pom.sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if (home / "lib").is_dir() and stamp.is_file() and stamp.read_text().strip() == digest:
        return home / "lib"
    return None


def java_available(pom: Path = POM_PATH) -> str | None:
    """Return why a broker cannot be started here, or None when it can.

    Checks for Java 17+ (`JAVA_HOME` or `java` on PATH) and, unless the jars are already
    cached, for Maven (`mvn` on PATH) and the pom.
    """
    java = _java()
    if java is None:
        return f"Java {MIN_JAVA}+ not found (no JAVA_HOME, no `java` on PATH): apt-get install openjdk-17-jre-headless"
    major = _java_major(java)
    if major is None or major < MIN_JAVA:
        return f"{java} is Java {major or '?'}; the Kafka broker needs Java {MIN_JAVA}+"
    if not pom.is_file():
        return f"{pom} not found: run from an ats-sim checkout"
    if _cached_lib(pom) is None and shutil.which("mvn") is None:
        return "Maven (`mvn`) not found and Kafka jars not cached: apt-get install maven"
    return None


def ensure_kafka_jars(pom: Path = POM_PATH) -> Path:
    """Return a folder holding every jar the broker needs, fetching them with Maven once.

    The folder is `~/.cache/ats-sim/kafka-<version>/lib`; it is filled in a scratch folder and
    renamed into place under a file lock, so an interrupted or concurrent fetch never leaves
    a half-filled cache. A change to the pom triggers a new fetch.
    """
    if not pom.is_file():
        raise KafkaBrokerError(f"{pom} not found: run from an ats-sim checkout")
    lib = _cached_lib(pom)
    if lib is not None:
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaBrokerError("Maven (`mvn`) not found: apt-get install maven")
    home = _cache_root() / f"kafka-{kafka_version(pom)}"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lib = _cached_lib(pom)  # another process may have fetched while we waited
        if lib is not None:
            return lib
        scratch = Path(tempfile.mkdtemp(prefix="lib.", dir=home))
        cmd = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom)]
        cmd += ["dependency:copy-dependencies", f"-Dkafka.lib.dir={scratch}"]
        logger.info("Fetching Kafka %s jars with Maven into %s", kafka_version(pom), home)
        started = time.monotonic()
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            if out.returncode != 0 or not any(scratch.glob("kafka_2.13-*.jar")):
                output = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # Maven's colours
                tail = "\n".join(output.splitlines()[-LOG_TAIL_LINES:])
                raise KafkaBrokerError(f"`{' '.join(cmd)}` failed (exit {out.returncode}):\n{tail}")
            shutil.rmtree(home / "lib", ignore_errors=True)
            scratch.rename(home / "lib")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # gone already after a successful rename
        (home / "pom.sha256").write_text(hashlib.sha256(pom.read_bytes()).hexdigest() + "\n")
        logger.info("Fetched Kafka jars in %.1f s", time.monotonic() - started)
        return home / "lib"


# --------------------------------------------------------------------------- helpers


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (all held open together, so they are distinct)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((_HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def _random_cluster_id() -> str:
    """A Kafka `Uuid` in its base64 form, as `kafka-storage random-uuid` prints it."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that read as a CLI flag
            return text


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _api_versions_ok(port: int) -> bool:
    """Send a Kafka ApiVersions v0 request by hand; True if the broker answers without error."""
    client_id = b"ats-sim-probe"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((_HOST, port), timeout=2.0) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = sock.recv(10, socket.MSG_WAITALL)
    except OSError:
        return False
    if len(header) < 10:
        return False
    _size, correlation_id, error_code = struct.unpack(">iih", header)
    return bool(correlation_id == 1 and error_code == 0)


def _metadata_ok(bootstrap_servers: str, port: int) -> bool:
    """True once the broker answers a metadata request (ApiVersions if confluent-kafka is absent)."""
    try:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient
    except ImportError:
        return _api_versions_ok(port)
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        return bool(_NODE_ID in admin.list_topics(timeout=2).brokers)
    except KafkaException:
        return False


def _read_ports(properties: Path) -> tuple[int | None, int | None]:
    """(PLAINTEXT port, CONTROLLER port) from an existing server.properties, if any."""
    if not properties.is_file():
        return None, None
    text = properties.read_text()
    plain = re.search(r"PLAINTEXT://[^:,\s]+:(\d+)", text)
    ctrl = re.search(r"CONTROLLER://[^:,\s]+:(\d+)", text)
    return (int(plain.group(1)) if plain else None), (int(ctrl.group(1)) if ctrl else None)


_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Do not leave a JVM holding ports behind when the interpreter exits without stop()."""
    for proc in list(_LIVE):
        with contextlib.suppress(OSError):
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- the broker


class KafkaBroker:
    """One Kafka JVM acting as KRaft controller and broker, listening on 127.0.0.1 only.

    Args:
        data_dir: Holds config, partition data and `broker.log`; created if missing. Reusing
            a data dir reuses its data, its cluster id and its controller port.
        port: PLAINTEXT (client) port; None reuses the data dir's port or picks a free one.
        heap: JVM max heap, as for `-Xmx`.
        pom: The pom that pins the Kafka version.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        heap: str = "512m",
        pom: Path = POM_PATH,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.heap = heap
        self.pom = pom
        old_port, old_controller_port = _read_ports(self.data_dir / "server.properties")
        free = _free_ports(2)
        self.port: int = port or old_port or free[0]
        self.controller_port: int = old_controller_port or next(p for p in free if p != self.port)
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- facts

    @property
    def bootstrap_servers(self) -> str:
        """`bootstrap.servers` for clients: "127.0.0.1:PORT"."""
        return f"{_HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's stdout and stderr, appended across restarts."""
        return self.data_dir / "broker.log"

    @property
    def pid(self) -> int | None:
        """The JVM's pid while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def is_running(self) -> bool:
        """True while the JVM is alive."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of `broker.log`."""
        if not self.log_path.is_file():
            return "(no broker.log)"
        with open(self.log_path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines))

    # ---- lifecycle

    def start(self, timeout: float = 120.0) -> None:
        """Start the broker and wait until it answers a metadata request.

        Formats the data dir on first use. Raises `KafkaBrokerError` (with the end of
        `broker.log`) if the JVM exits or is not ready within `timeout` seconds.
        """
        if self.is_running:
            raise KafkaBrokerError(f"broker on {self.bootstrap_servers} is already running")
        java = _java()
        if java is None:
            raise KafkaBrokerError(java_available(self.pom) or "java not found")
        classpath = f"{ensure_kafka_jars(self.pom)}/*"  # a first fetch does not eat the timeout
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        jvm = [
            java,
            f"-Xmx{self.heap}",
            "-Xms64m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            classpath,
        ]
        with open(self.log_path, "ab") as log:
            if not (self.data_dir / "kafka-logs" / "meta.properties").is_file():
                fmt = [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    _random_cluster_id(),
                    "-c",
                    str(config),
                ]
                code = subprocess.run(
                    fmt, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
                ).returncode
                if code != 0:
                    raise self._failure(
                        f"formatting {self.data_dir / 'kafka-logs'} failed (exit {code})"
                    )
            self._proc = subprocess.Popen(
                [*jvm, "kafka.Kafka", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to us; we stop the broker ourselves
            )
        _LIVE.add(self._proc)
        logger.info("Started Kafka broker pid %d on %s", self._proc.pid, self.bootstrap_servers)
        while time.monotonic() < deadline:
            exit_code = self._proc.poll()
            if exit_code is not None:
                _LIVE.discard(self._proc)
                raise self._failure(f"broker exited with code {exit_code} while starting")
            if _port_open(self.port) and _metadata_ok(self.bootstrap_servers, self.port):
                return
            time.sleep(0.2)
        self.kill()
        raise self._failure(f"broker not ready on {self.bootstrap_servers} after {timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the broker down cleanly (SIGTERM), or SIGKILL it after `timeout` seconds."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "Kafka broker pid %d ignored SIGTERM for %.0f s; killing it", proc.pid, timeout
                )
                proc.kill()
                proc.wait()
        _LIVE.discard(proc)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the broker at once, as a crash would (the next start recovers its logs)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _LIVE.discard(proc)
        self._proc = None

    def restart(self, timeout: float = 120.0) -> None:
        """Stop the broker (if running) and start it again on the same data dir and ports."""
        self.stop()
        self.start(timeout=timeout)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running else "stopped"
        return f"KafkaBroker({self.bootstrap_servers}, {self.data_dir}, {state})"

    # ---- internals

    def _write_config(self) -> Path:
        settings = {
            "process.roles": "broker,controller",
            "node.id": _NODE_ID,
            "controller.quorum.bootstrap.servers": f"{_HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{_HOST}:{self.port},CONTROLLER://{_HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{_HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data_dir / "kafka-logs",
            "num.partitions": 1,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "log.cleaner.dedupe.buffer.size": 2 * 1024 * 1024,
        }
        config = self.data_dir / "server.properties"
        lines = [f"{key}={value}" for key, value in settings.items()]
        config.write_text("# Written by ats_sim_testing.kafka_broker\n" + "\n".join(lines) + "\n")
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
        return config

    def _failure(self, what: str) -> KafkaBrokerError:
        return KafkaBrokerError(
            f"Kafka broker {self.bootstrap_servers} (data dir {self.data_dir}): {what}.\n"
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )


@dataclass(frozen=True)
class ExternalKafkaBroker:
    """A broker run by someone else (e.g. `KAFKA_BOOTSTRAP_SERVERS`): usable, not restartable."""

    bootstrap_servers: str


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Run a broker in the foreground until Ctrl-C (or SIGTERM); `--fetch-only` just fetches jars."""
    parser = argparse.ArgumentParser(
        prog="python -m ats_sim_testing.kafka_broker",
        description="Run a single-node Apache Kafka broker (KRaft) on 127.0.0.1.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/kafka"),
        help="config, data and broker.log (default: ./data/kafka)",
    )
    parser.add_argument(
        "--temp", action="store_true", help="use a temporary data dir, deleted on exit"
    )
    parser.add_argument(
        "--port", type=int, default=9092, help="client port (default 9092; 0 = any free port)"
    )
    parser.add_argument(
        "--fetch-only", action="store_true", help="fetch the Kafka jars, print their folder, exit"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker to start"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    reason = java_available()
    if reason:
        print(f"Cannot start Kafka: {reason}", file=sys.stderr)
        return 2
    if args.fetch_only:
        print(ensure_kafka_jars())
        return 0

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    with contextlib.ExitStack() as stack:
        data_dir = args.data_dir
        if args.temp:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kafka.")))
        broker = KafkaBroker(data_dir, port=args.port or None)
        stack.callback(broker.stop)  # also on Ctrl-C while starting
        try:
            broker.start(timeout=args.timeout)
            print(f"Kafka broker ready: bootstrap.servers={broker.bootstrap_servers}", flush=True)
            print(f"(data: {broker.data_dir}, log: {broker.log_path}; Ctrl-C stops it)", flush=True)
            while broker.is_running:
                time.sleep(0.5)
        except KafkaBrokerError as err:
            print(err, file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("Stopping Kafka broker...", flush=True)
            return 0
        print(
            f"Kafka broker exited on its own. Last lines of {broker.log_path}:\n{broker.log_tail()}",
            file=sys.stderr,
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
