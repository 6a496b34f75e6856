"""A real three-master Redis Cluster for the fleet tests, from the same ``redis-server`` binary.

Cluster nodes talk over TCP (a node's bus is its port + 10000), so each node listens on a free
loopback port whose bus port is free too. Slots are split over the three masters by hand
(CLUSTER MEET, CLUSTER ADDSLOTS) and the fixture waits for every node to say
``cluster_state:ok`` and to know all three: no replicas, no persistence.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from .redis_server import START_DEADLINE, redis_server_binary

SLOTS = 16384
MASTERS = 3
BUS_OFFSET = 10000


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_node_port(taken: set[int]) -> int:
    """A loopback port that is free, and whose cluster bus port is free as well."""
    for _ in range(1000):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + BUS_OFFSET < 65536 and port not in taken and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterServers:
    """Three cluster-enabled redis-server processes forming one cluster."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="gameapi-cluster-"))
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The URL of one node: a cluster client discovers the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def node(self, index: int) -> redis.Redis:
        """A synchronous client of one node, for the test's own looks at its keys."""
        return redis.Redis(host="127.0.0.1", port=self.ports[index])

    def start(self) -> RedisClusterServers:
        for index in range(MASTERS):
            port = _free_node_port(set(self.ports))
            self.ports.append(port)
            node_dir = self.directory / str(index)
            node_dir.mkdir()
            self.processes.append(subprocess.Popen(
                [
                    redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--save", "", "--appendonly", "no", "--dir", str(node_dir),
                    "--loglevel", "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ))
        self._wait_until(lambda node: bool(node.ping()), "every node to answer PING")
        first = self.node(0)
        for port in self.ports[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", str(port))
        share = SLOTS // MASTERS
        for index in range(MASTERS):
            low = index * share
            high = SLOTS if index == MASTERS - 1 else low + share
            with self.node(index) as node:
                node.execute_command("CLUSTER", "ADDSLOTS", *range(low, high))
        first.close()
        self._wait_until(self._formed, "cluster_state:ok with all three masters")
        return self

    @staticmethod
    def _formed(node: redis.Redis) -> bool:
        info = node.cluster("INFO")
        return (
            str(info.get("cluster_state")) == "ok"
            and int(info.get("cluster_known_nodes", 0)) == MASTERS
            and int(info.get("cluster_slots_ok", 0)) == SLOTS
        )

    def _wait_until(self, holds: Callable[[redis.Redis], bool], what: str) -> None:
        deadline = time.monotonic() + START_DEADLINE
        for index in range(MASTERS):
            while True:
                if self.processes[index].poll() is not None:
                    raise RuntimeError(f"cluster node {index} exited while waiting for {what}")
                try:
                    with self.node(index) as node:
                        if holds(node):
                            break
                except (redis.RedisError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out after {START_DEADLINE} s waiting for {what}")
                time.sleep(0.05)

    def close(self) -> None:
        processes, self.processes = self.processes, []
        for process in processes:
            process.kill()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
        shutil.rmtree(self.directory, ignore_errors=True)
