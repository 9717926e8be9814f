"""A multi-node Ray cluster on this machine, for tests and benchmarks, torn down by what it started.

Each node is ``ray start ... --block`` run as a child in its own session: every process the
node starts (GCS, raylet, agents, workers, which put themselves in their own process groups
but keep the session) is found again by its session id and ended by PID. Never ``ray stop``:
it ends every Ray process of the machine, whoever started it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
}


def ray_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **QUIET_ENV, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_pids(sid: int) -> list[int]:
    """PIDs of the processes in session ``sid`` (from /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # after "(comm)": state ppid pgrp session; no zombies
            pids.append(int(stat.parent.name))
    return pids


@dataclass
class Node:
    proc: subprocess.Popen
    log: Path
    head: bool

    @property
    def sid(self) -> int:
        return self.proc.pid  # start_new_session: the session leader's PID is the session id

    def pids(self) -> list[int]:
        return session_pids(self.sid)

    def kill(self, timeout: float = 30) -> None:
        """SIGKILL every process of this node (the ``ray start`` process and all it started), until none is left."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in [self.proc.pid, *self.pids()]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)
            time.sleep(0.2)
            if not self.pids():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray node processes survived SIGKILL: {self.pids()}")


@dataclass
class Cluster:
    """Head and worker nodes on loopback, each ``num_cpus`` CPUs (workers may declare fake GPUs)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nasray-")))  # short: socket paths
    port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)

    #: The head's IP address, and a command prefix for drivers that ask the cluster (e.g. ``ip netns exec NS``).
    head_ip: str = "127.0.0.1"
    driver_prefix: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.head_ip}:{self.port}"

    def _start(self, args: list[str], name: str, head: bool, prefix: tuple[str, ...] = ()) -> Node:
        log = self.root / f"{name}.log"
        with log.open("w") as out:
            proc = subprocess.Popen([*prefix, RAY, "start", *args, "--block", "--disable-usage-stats"], env=ray_env(),
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        node = Node(proc, log, head)
        self.nodes.append(node)
        return node

    def start_head(self, num_cpus: int = 1, num_gpus: int = 0, prefix: tuple[str, ...] = ()) -> Node:
        """The head at ``head_ip``; ``prefix`` runs it elsewhere (``("ip", "netns", "exec", NS)``)."""
        return self._start(["--head", "--port", str(self.port), "--num-cpus", str(num_cpus), "--num-gpus",
                            str(num_gpus), "--temp-dir", str(self.root), "--include-dashboard=false",
                            "--node-ip-address", self.head_ip], "head", head=True, prefix=prefix)  # fmt: skip

    def add_node(
        self, num_cpus: int = 1, num_gpus: int = 0, ip: str = "127.0.0.1", prefix: tuple[str, ...] = ()
    ) -> Node:
        """A node joining the head, with its own IP address (``ip``) when ``prefix`` puts it on another host."""
        name = f"node{len(self.nodes)}"
        return self._start(["--address", self.address, "--num-cpus", str(num_cpus), "--num-gpus", str(num_gpus),
                            "--node-ip-address", ip], name, head=False, prefix=prefix)  # fmt: skip

    def ask(self, script: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ``script`` (argv[1] is the address) as a driver of this cluster."""
        return subprocess.run([*self.driver_prefix, sys.executable, "-c", script, self.address], env=ray_env(),
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    def wait_for(self, alive: int, timeout: float = 120) -> None:
        """Until ``alive`` nodes are registered and alive (asked through ``ray status`` style state)."""
        script = (
            "import ray,sys; ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR');"
            "print(sum(1 for n in ray.nodes() if n['Alive']))"
        )
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc.poll() is not None:
                    raise RuntimeError(f"a Ray node exited: {node.log.read_text()[-2000:]}")
            proc = self.ask(script)
            seen = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
            if seen == str(alive):
                return
            time.sleep(1)
        raise RuntimeError(f"the cluster did not reach {alive} alive nodes (last: {seen})")

    def pids(self) -> list[int]:
        return [pid for node in self.nodes for pid in node.pids()]

    def shutdown(self) -> None:
        """SIGKILL every process the nodes started (workers first, head last), remove the temp dir."""
        try:
            for node in reversed(self.nodes):
                if node.proc.poll() is None or node.pids():
                    node.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()
