"""Ray nodes as separate hosts: a head and a worker, each in its own network namespace joined by
a veth pair (``ip netns``, needs root), so each node has its own IP address and the only road
between them is that link. Both join the cluster with their own address and each runs a task.

The namespaces, the veth pair and every process of the nodes are removed on every path,
processes by PID (tests/ray_cluster.py), never ``ray stop``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from conftest import missing_resource
from ray_cluster import Cluster, session_pids


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def two_hosts() -> Iterator[tuple[str, str, str, str]]:
    """Two network namespaces linked by a veth pair: (ns1, ip1, ns2, ip2); removed on every path."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing_resource("network namespaces need root and the `ip` program (iproute2)")
    tag = f"nas{os.getpid() % 100000}"
    ns1, ns2, v1, v2 = f"{tag}a", f"{tag}b", f"{tag}va", f"{tag}vb"
    subnet = f"10.213.{os.getpid() % 250}"
    ip1, ip2 = f"{subnet}.1", f"{subnet}.2"
    steps = [
        ("netns", "add", ns1),
        ("netns", "add", ns2),
        ("link", "add", v1, "type", "veth", "peer", "name", v2),
        ("link", "set", v1, "netns", ns1),
        ("link", "set", v2, "netns", ns2),
        ("-n", ns1, "addr", "add", f"{ip1}/24", "dev", v1),
        ("-n", ns2, "addr", "add", f"{ip2}/24", "dev", v2),
        ("-n", ns1, "link", "set", v1, "up"),
        ("-n", ns2, "link", "set", v2, "up"),
        ("-n", ns1, "link", "set", "lo", "up"),
        ("-n", ns2, "link", "set", "lo", "up"),
    ]
    try:
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                missing_resource(f"`ip {' '.join(step)}` failed: {done.stderr.strip()}")
        yield ns1, ip1, ns2, ip2
    finally:
        for ns in (ns1, ns2):  # deleting a namespace deletes its end of the veth pair, and so the pair
            _ip("netns", "del", ns)
        _ip("link", "del", v1)  # if it never moved into a namespace


NODES_SCRIPT = """
import json, socket, sys, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR')
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

@ray.remote(num_cpus=1)
def where():
    return ray.util.get_node_ip_address()

nodes = [n for n in ray.nodes() if n['Alive']]
ran = {n['NodeID']: ray.get(where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n['NodeID'], soft=False))
                            .remote(), timeout=120) for n in nodes}
print(json.dumps([{'id': n['NodeID'], 'ip': n['NodeManagerAddress'], 'ran_at': ran[n['NodeID']]} for n in nodes]))
"""


@pytest.mark.ray
@pytest.mark.slow
def test_head_and_worker_in_separate_network_namespaces_join_with_their_own_addresses() -> None:
    with two_hosts() as (ns1, ip1, ns2, ip2):
        on1, on2 = ("ip", "netns", "exec", ns1), ("ip", "netns", "exec", ns2)
        cluster = Cluster(head_ip=ip1, driver_prefix=on1)
        sids: list[int] = []
        try:
            cluster.start_head(num_cpus=1, prefix=on1)
            cluster.add_node(num_cpus=1, ip=ip2, prefix=on2)
            sids = [n.sid for n in cluster.nodes]
            cluster.wait_for(2)
            done = cluster.ask(NODES_SCRIPT, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
            nodes = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            cluster.shutdown()
        assert not any(session_pids(s) for s in sids), "Ray node processes left running"
    assert sorted(n["ip"] for n in nodes) == sorted([ip1, ip2])  # two hosts, each with its own address
    assert all(n["ran_at"] == n["ip"] for n in nodes)  # each node ran a task, reached over the veth link only
    assert _ip("netns", "list").stdout.count(ns1) == 0 and ns2 not in _ip("netns", "list").stdout
