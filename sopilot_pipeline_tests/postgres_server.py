"""A throwaway PostgreSQL database for tests: a fresh database on the server at
127.0.0.1:5432 (what development machines and CI run), else a throwaway cluster started
from Debian's binaries. Outside CI, with neither, the tests skip; in CI they fail."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SERVER_URL = os.environ.get(
    "SOPILOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin(url: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _reachable(url: str) -> bool:
    try:
        _admin(url, "select 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not this server"
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _throwaway_cluster() -> Iterator[str]:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        raise FileNotFoundError("no PostgreSQL server binaries (Debian package postgresql)")
    bindir = bins[-1].parent
    root = Path(tempfile.mkdtemp(prefix="sopilot-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*run_as, bindir / "initdb", "-A", "trust", "-U", "postgres", "-D", root / "db"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            bindir / "pg_ctl",
            "-D",
            root / "db",
            "-w",
            "-l",
            root / "log",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, bindir / "pg_ctl", "-D", root / "db", "-m", "fast", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Yields a SQLAlchemy URL (psycopg2 driver) of a new, empty database."""
    with _server() as server:
        name = f"sopilot_test_{uuid.uuid4().hex[:12]}"
        _admin(server, f"create database {name}")
        try:
            yield server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://") + (
                f"/{name}"
            )
        finally:
            for _ in range(5):
                try:
                    _admin(server, f"drop database if exists {name} with (force)")
                    break
                except Exception:  # noqa: BLE001 - a connection still closing
                    time.sleep(0.5)


@contextmanager
def _server() -> Iterator[str]:
    if _reachable(SERVER_URL):
        yield SERVER_URL
        return
    try:
        with _throwaway_cluster() as url:
            yield url
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test against PostgreSQL, but none could be had: {exc}")
        pytest.skip(f"no PostgreSQL server and none could be started: {exc}")
