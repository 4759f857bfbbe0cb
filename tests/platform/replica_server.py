"""A real PostgreSQL streaming replica of the local server, for tests (started and removed by them).

``pg_basebackup`` copies the running cluster into a temporary directory with ``-R`` (standby.signal
+ ``primary_conninfo``), and a second ``postgres`` from the same binaries serves it on a free port.
PostgreSQL refuses to run as root, so under root the directory belongs to, and the server runs as,
the ``postgres`` OS user. The primary must accept replication connections from 127.0.0.1;
``ensure_replication_allowed`` adds that pg_hba.conf line (idempotently) when it is missing and
this process may edit the file, then reloads the configuration.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

HBA_LINE = "host replication all 127.0.0.1/32 trust"
HBA_MARK = "# CX Hub tests: streaming replicas from 127.0.0.1"


class ReplicaUnavailable(RuntimeError):
    """The local server cannot feed a replica here (the test is skipped with this reason)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def _bindir(primary_dsn: str) -> Path:
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin")
    if (candidate / "postgres").exists():
        return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    raise ReplicaUnavailable("PostgreSQL server binaries not found")


def ensure_replication_allowed(primary_dsn: str) -> None:
    """Make the primary accept replication connections from 127.0.0.1 (idempotent)."""
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        allowed = conn.execute(
            "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) "
            "AND (address IS NULL OR address = '127.0.0.1' OR type = 'local') AND error IS NULL"
        ).fetchone()[0]
        if allowed:
            return
        hba_file = Path(conn.execute("SHOW hba_file").fetchone()[0])
        try:
            text = hba_file.read_text()
            if HBA_LINE not in text:
                hba_file.write_text(f"{text.rstrip()}\n{HBA_MARK}\n{HBA_LINE}\n")
        except OSError as exc:
            raise ReplicaUnavailable(f"pg_hba.conf has no replication entry and {hba_file}: {exc}") from exc
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)


@dataclass
class ReplicaServer:
    primary_dsn: str
    port: int = 0
    datadir: Path | None = None
    bindir: Path | None = None

    def start(self, timeout: float = 180) -> ReplicaServer:
        if self.datadir and (self.datadir / "postmaster.pid").exists():
            return self
        if not shutil.which("pg_basebackup") and not self.bindir:
            raise ReplicaUnavailable("pg_basebackup not installed")
        ensure_replication_allowed(self.primary_dsn)
        self.bindir = self.bindir or _bindir(self.primary_dsn)
        if self.datadir is None:
            self.datadir = Path(tempfile.mkdtemp(prefix="cxhub-replica-"))
            os.chmod(self.datadir, 0o700)
            if os.geteuid() == 0:
                server_user = pwd.getpwnam("postgres")
                os.chown(self.datadir, server_user.pw_uid, server_user.pw_gid)
            with psycopg.connect(self.primary_dsn, autocommit=True) as conn:
                user = conn.execute("SELECT current_user").fetchone()[0]
                max_connections = conn.execute("SHOW max_connections").fetchone()[0]
            primary = psycopg.conninfo.conninfo_to_dict(self.primary_dsn)
            backup = [str(self.bindir / "pg_basebackup"), "-h", str(primary.get("host") or "127.0.0.1")]
            backup += ["-p", str(primary.get("port") or 5432), "-U", user, "-D", str(self.datadir)]
            backup += [
                "-X",
                "stream",
                "-R",
                "-c",
                "fast",
                "--no-sync",
            ]  # -R: standby.signal + primary_conninfo
            # A database created or dropped elsewhere during the copy can fail it: try again.
            for attempt in range(3):
                copied = subprocess.run(
                    _as_server_user(backup), capture_output=True, text=True, timeout=timeout
                )
                if copied.returncode == 0:
                    break
                subprocess.run(
                    _as_server_user(["find", str(self.datadir), "-mindepth", "1", "-delete"]), check=False
                )
                if attempt == 2:
                    raise ReplicaUnavailable(f"pg_basebackup failed: {copied.stderr[-800:]}")
                time.sleep(1)
            self._write_config(max_connections)
        self.port = self.port or _free_port()
        start = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.datadir / "server.log")]
        start += ["-o", f"-p {self.port}", "-w", "-t", "60", "start"]
        subprocess.run(_as_server_user(start), check=True, capture_output=True, timeout=90)
        self.wait_until_streaming()
        return self

    def _write_config(self, max_connections: str) -> None:
        assert self.datadir is not None
        config = {
            "postgresql.conf": (
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.datadir}'\n"
                f"max_connections = {max_connections}\n"
                "shared_buffers = 32MB\nhot_standby = on\nfsync = off\nlogging_collector = off\n"
            ),
            "pg_hba.conf": "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            "pg_ident.conf": "",
        }
        for name, text in config.items():
            path = self.datadir / name
            path.write_text(text)
            if os.geteuid() == 0:
                server_user = pwd.getpwnam("postgres")
                os.chown(path, server_user.pw_uid, server_user.pw_gid)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={_primary_user(self.primary_dsn)}"

    def wait_until_streaming(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=2) as conn:
                    if conn.execute(
                        "SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() IS NOT NULL"
                    ).fetchone()[0]:
                        return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise ReplicaUnavailable(f"replica did not come up; log:\n{self.log_tail()}")
            time.sleep(0.2)

    def wait_for_replay(self, timeout: float = 30) -> None:
        """Until the replica has replayed everything the primary had written when called."""
        with psycopg.connect(self.primary_dsn, autocommit=True) as conn:
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise AssertionError("the replica did not catch up")
                time.sleep(0.05)

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        if self.datadir and (self.datadir / "postmaster.pid").exists():
            stop = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"]
            subprocess.run(_as_server_user(stop), capture_output=True, timeout=60)

    def remove(self) -> None:
        self.stop()
        if self.datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None

    def log_tail(self) -> str:
        try:
            return (self.datadir / "server.log").read_text()[-3000:]  # type: ignore[operator]
        except OSError:
            return ""


def _primary_user(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn).get("user") or "postgres"
