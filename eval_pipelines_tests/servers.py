"""Real local servers the tests start and stop themselves: an HTTP receiver, an S3-compatible object store,
PostgreSQL, `dagster dev`."""

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import patch

import dagster as dg
import httpx
import psutil

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(interval_s)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


class Receiver:
    """Records JSON bodies; answers ``fail_with`` to the first ``failures`` requests. With ``hold``, it answers
    nothing until :meth:`release` (a sender stuck mid-delivery)."""

    def __init__(self, failures: int = 0, fail_with: int = 503, hold: bool = False) -> None:
        self.bodies, self.failures, self.fail_with = [], failures, fail_with
        self.arrivals: list[float] = []  # when each body arrived (time.time())
        self.released = threading.Event()
        if not hold:
            self.released.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.arrivals.append(time.time())
                receiver.bodies.append(body)
                receiver.released.wait()
                status = receiver.fail_with if len(receiver.bodies) <= receiver.failures else 202
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def release(self) -> None:
        self.released.set()

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class S3Server:
    """moto's S3-compatible server in a process of its own; :attr:`env` points AWS clients (s3fs) at it."""

    def __init__(self, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}", "AWS_ACCESS_KEY_ID": "eval-pipelines-tests",
                    "AWS_SECRET_ACCESS_KEY": "unused-by-the-local-server", "AWS_DEFAULT_REGION": "us-east-1"}

    def __enter__(self) -> "S3Server":
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                             str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_until(self._serving, 60, f"the S3 server (log: {self.log})", interval_s=0.2)
        return self

    def _serving(self) -> bool:
        try:
            return httpx.get(self.env["AWS_ENDPOINT_URL"], timeout=2).status_code < 500
        except httpx.TransportError:
            return False

    def __exit__(self, *exc) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


class PostgresServer:
    """Debian's PostgreSQL on a free port, data in a temporary folder, trust authentication on 127.0.0.1.

    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user the package creates."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="eval-pipelines-pg-"))
        self.bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))[-1]).parent
        self.env = {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": "dagster",
                    "DAGSTER_PG_PASSWORD": "unused-with-trust", "DAGSTER_PG_DB": "dagster"}

    def _run(self, *args: str) -> None:
        user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*user, *args], check=True, capture_output=True, cwd=self.folder)

    def __enter__(self) -> "PostgresServer":
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        data = self.folder / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "server.log"), "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "dagster", "dagster")
        return self

    def __exit__(self, *exc) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


class DagsterDev:
    """``dagster dev -w workspace.yaml`` on 127.0.0.1 in a new process session, stopped by its PID."""

    def __init__(self, dagster_home: Path, env: dict[str, str], log: Path) -> None:
        self.port, self.dagster_home, self.env, self.log = free_port(), dagster_home, env, log
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=60)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "DagsterDev":
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                 "-p", str(self.port)], cwd=PROJECT, start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, "DAGSTER_HOME": str(self.dagster_home),
                     "DAGSTER_DISABLE_TELEMETRY": "1"})
        wait_until(self._serving, 180, f"dagster dev on {self.url} (log: {self.log})")
        return self

    def _serving(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            return self.graphql("{ version }")["version"] != "" and self._location_loaded()
        except httpx.HTTPError:
            return False

    def _location_loaded(self) -> bool:
        entries = self.graphql("""{ workspaceOrError { ... on Workspace { locationEntries {
            loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
        (entry,) = entries["workspaceOrError"]["locationEntries"]
        error = entry["locationOrLoadError"] or {}
        assert error.get("__typename") != "PythonError", error.get("message")
        return entry["loadStatus"] == "LOADED" and error.get("__typename") == "RepositoryLocation"

    def location_name(self) -> str:
        (entry,) = self.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")[
            "workspaceOrError"]["locationEntries"]
        return entry["name"]

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """The server's instance, opened in this process with the server's environment (storage settings)."""
        with patch.dict(os.environ, self.env), dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            yield instance

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        reply = self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        if reply.status_code >= 500:
            raise httpx.HTTPStatusError(f"{reply.status_code}: {reply.text[:2000]}", request=reply.request,
                                        response=reply)
        body = reply.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def _tree(self) -> list[psutil.Process]:
        """The server and every process it started (the webserver and the daemon run in sessions of their own)."""
        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """Stops every process of the server at once (SIGKILL), as a crash or a lost machine would: runs in flight
        stay STARTED in the instance."""
        for process in self._tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.wait()
        self.process = None
        self.client.close()

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        tree = self._tree()
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _, alive = psutil.wait_procs(tree, timeout=60)
        for process in alive:  # what did not stop within the minute
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.wait()
        self.client.close()
