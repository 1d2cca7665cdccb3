"""Local sandboxes' network modes and resource limits, from the sandbox and through `cooperbench run`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cooperbench import run
from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register
from cooperbench.backends import RunLabels
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.backends.local import LocalBackend
from cooperbench.backends.local._limits import cgroup_support
from cooperbench.dataset import Task
from cooperbench.errors import ConfigError
from cooperbench.patches import base_commit, working_tree_patch

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"
FORK_BOMB = "bomb() { bomb | bomb & }; bomb; sleep 60"
MEMORY_HOG = "python3 -c 'chunks = []\nwhile True: chunks.append(bytearray(64 << 20))'"
needs_cgroups = pytest.mark.skipif(
    not (cgroup_support().can("pids") and cgroup_support().can("memory")),
    reason="needs writable memory and pids cgroups (CI runs as root); without them a warning says limits are off",
)


@pytest.fixture
def limited(tmp_path: Path, example_task: Task) -> Iterator[tuple[LocalBackend, str]]:
    backend = LocalBackend(cache_dir=tmp_path / "cache", memory="256m", pids=128, cpus=1)
    yield backend, backend.resolve_image(example_task)
    backend.cleanup()


@needs_cgroups
def test_a_fork_bomb_ends_its_command_and_says_why(limited: tuple[LocalBackend, str]) -> None:
    backend, image = limited
    bombed, bystander = (backend.create_sandbox(image, run=RunLabels("limits")) for _ in range(2))
    try:
        result = bombed.exec(FORK_BOMB, timeout=120)
        assert not result.timed_out, "the command is ended by the limit, not by its timeout"
        assert result.resource_limit == "pids" and "process limit (128" in result.output
        assert bombed.exec("echo alive").output.strip() == "alive", "the sandbox stays usable"
        assert bystander.exec("echo unaffected").output.strip() == "unaffected"
    finally:
        bombed.cleanup()
        bystander.cleanup()
    assert backend.resources("limits") == []


@needs_cgroups
def test_a_memory_hog_is_killed_inside_its_sandbox_and_says_why(limited: tuple[LocalBackend, str]) -> None:
    backend, image = limited
    box = backend.create_sandbox(image, run=RunLabels("limits"))
    try:
        result = box.exec(MEMORY_HOG, timeout=120)
        assert result.returncode != 0 and not result.timed_out
        assert result.resource_limit == "memory" and "out of memory (256 MiB)" in result.output
        assert box.exec("echo alive").output.strip() == "alive"
    finally:
        box.cleanup()


@needs_cgroups
def test_commands_run_in_the_sandboxs_cgroups_with_its_cpu_quota(limited: tuple[LocalBackend, str]) -> None:
    backend, image = limited
    box = backend.create_sandbox(image, run=RunLabels("limits"))
    try:
        assert box.id in box.exec("cat /proc/self/cgroup").output, "commands run in the sandbox's own cgroups"
        if cgroup_support().can("cpu"):
            cpu = box._cgroup.dirs["cpu"]
            quota = (cpu / "cpu.cfs_quota_us").read_text() if (cpu / "cpu.cfs_quota_us").exists() else ""
            assert quota.strip() == "100000" or (cpu / "cpu.max").read_text().split()[0] == "100000"
    finally:
        box.cleanup()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"network": "yes"}, r"`network`: expected true"),
        ({"network": None}, r"`network`: expected true"),
        ({"memory": "lots"}, r"`memory`: expected a size"),
        ({"pids": 0}, r"`pids`: expected a number"),
        ({"cpus": -1}, r"`cpus`: expected a positive"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        LocalBackend(cache_dir=tmp_path, **options)


def test_a_bad_network_value_in_the_agent_config_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("backend:\n  network: sometimes\n")
    with pytest.raises(ConfigError, match=r"agent\.yaml: backend option `network`: expected true.*'sometimes'"):
        run("bad-net", agent="oracle", agent_config=str(config), dataset_dir=DATASET, logs_dir=tmp_path / "logs")


def test_network_host_is_an_explicit_opt_in_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="network: host.*loopback services"):
        backend = LocalBackend(cache_dir=tmp_path, network="host")
    assert backend.describe()["network"] == "host"


def _with_listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    return server, server.getsockname()[1]


def test_default_network_goes_out_but_not_to_the_hosts_loopback(tmp_path: Path, example_task: Task) -> None:
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    server, port = _with_listener()
    box = backend.create_sandbox(backend.resolve_image(example_task), run=RunLabels("net"))
    try:
        routes = box.exec("ip -br link; ip route").output
        assert "tap0" in routes and "default" in routes, f"the sandbox has its own outbound route: {routes}"
        probe = box.exec(f"timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' && echo CONNECTED")
        assert "CONNECTED" not in probe.output, "the host's loopback service does not answer"
    finally:
        box.cleanup()
        server.close()
    assert backend.resources("net") == [], "the namespace holder and slirp4netns are gone"


# Run in a mount namespace of its own (private from the host's), so other processes on the host
# cannot touch its mounts: a shared tmpfs with a tmpfs below it, then a sandbox's network.
_MOUNT_PROBE = """
import os, subprocess, sys
from pathlib import Path
from cooperbench.backends.local._network import SandboxNetwork
shared = Path(sys.argv[1]); child = shared / "child"
subprocess.run(["mount", "-t", "tmpfs", "cb-shared", str(shared)], check=True)
subprocess.run(["mount", "--make-shared", str(shared)], check=True)
child.mkdir()
subprocess.run(["mount", "-t", "tmpfs", "cb-child", str(child)], check=True)
net = SandboxNetwork(shared)
try:
    net.wait_ready()
    with net.entered():
        ip = subprocess.Popen(["ip", "-br", "link"], stdout=subprocess.PIPE, text=True)
    links = ip.communicate()[0]
    print("tap0" in links, os.path.ismount(child))
finally:
    net.close()
"""


def test_a_sandboxs_network_unmounts_nothing_on_the_host(tmp_path: Path) -> None:
    """A mount below a shared mount (as Docker's containers are, below /var/lib/docker) outlives a sandbox start."""
    shared = tmp_path / "shared"
    shared.mkdir()
    argv = ["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-c", _MOUNT_PROBE, str(shared)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip(f"mount namespaces and tmpfs mounts need root (the sandbox's network does too): {done.stderr}")
    assert done.returncode == 0, done.stderr
    network_up, still_mounted = done.stdout.split()
    assert network_up == "True", "slirp4netns brought the sandbox's network up"
    assert still_mounted == "True", "starting slirp4netns unmounted a mount of the namespace it was started from"


# The whole life of a local sandbox in a private mount namespace of its own: its template built
# (bwrap binding the host's directories recursively), its workspace overlay mounted, its network
# up (slirp4netns), commands run (bwrap), then everything removed (the overlay detached). None of
# it may unmount, or mount, anything below a shared mount it does not own: Docker's containers
# and builds live below such a mount (/var/lib/docker), and the harness runs beside them.
_LIFECYCLE_PROBE = """
import json, subprocess, sys
from pathlib import Path
from cooperbench.backends.base import RunLabels
from cooperbench.backends.local import LocalBackend
from cooperbench.backends.local._workspace import mounts_under
from cooperbench.testing.conformance import default_task
shared, cache = Path(sys.argv[1]), Path(sys.argv[2])
subprocess.run(["mount", "-t", "tmpfs", "cb-shared", str(shared)], check=True)
subprocess.run(["mount", "--make-shared", str(shared)], check=True)
for name in ("container-1", "container-2"):
    (shared / name).mkdir()
    subprocess.run(["mount", "-t", "tmpfs", f"cb-{name}", str(shared / name)], check=True)
before = mounts_under(shared)
backend = LocalBackend(cache_dir=cache)
box = backend.create_sandbox(backend.resolve_image(default_task()), run=RunLabels("mounts"))
try:
    overlay = bool(mounts_under(box.root))
    ran = box.exec("echo changed > README.md && git status --porcelain && ip -br link").output
    during = mounts_under(shared)
finally:
    box.cleanup()
    backend.cleanup()
print(json.dumps({"before": before, "during": during, "after": mounts_under(shared), "overlay": overlay, "ran": ran}))
"""


def test_a_local_sandboxs_whole_life_leaves_the_hosts_shared_mounts_alone(tmp_path: Path) -> None:
    """Mounts below a shared mount (as Docker's containers are, below /var/lib/docker) are untouched by a sandbox."""
    # Below /var, as Docker's are: a template build binds /var recursively (the host's /tmp it does not).
    shared = Path(tempfile.mkdtemp(prefix="cooperbench-shared-", dir="/var/tmp"))
    argv = ["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-c", _LIFECYCLE_PROBE]
    argv += [str(shared), str(tmp_path / "cache")]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    finally:
        shared.rmdir()  # the mounts on it went with the probe's namespace
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip(f"mount namespaces and tmpfs mounts need root (overlay workspaces do too): {done.stderr}")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["overlay"], "the sandbox's workspace was an overlay mount (the mount this test is about)"
    assert "M README.md" in seen["ran"] and "tap0" in seen["ran"], seen["ran"]
    containers = [str(shared / "container-1"), str(shared / "container-2")]
    for moment in ("before", "during", "after"):
        assert sorted(seen[moment]) == sorted([str(shared), *containers]), f"mounts below the shared one {moment}"


def test_pip_download_from_the_package_index_works_in_a_default_sandbox(tmp_path: Path, example_task: Task) -> None:
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    box = backend.create_sandbox(backend.resolve_image(example_task), run=RunLabels("pip"))
    try:
        done = box.exec(
            "cd /tmp && pip download --no-deps --no-cache-dir -q -d /tmp/dl six && ls /tmp/dl",
            env={"PIP_FIND_LINKS": ""},  # from the index itself, not a local wheel folder
            timeout=300,
        )
        assert done.returncode == 0 and ".whl" in done.output, done.output[-2000:]
    finally:
        box.cleanup()


def test_network_false_means_no_network(tmp_path: Path, example_task: Task) -> None:
    backend = LocalBackend(cache_dir=tmp_path / "cache", network=False)
    box = backend.create_sandbox(backend.resolve_image(example_task), run=RunLabels("nonet"))
    try:
        links = box.exec("ip -br link").output.split()
        assert links[0] == "lo" and "tap0" not in links, links
        out = box.exec("timeout 5 bash -c 'exec 3<>/dev/tcp/10.255.255.53/53' && echo CONNECTED").output
        assert "CONNECTED" not in out
    finally:
        box.cleanup()


@register("t_resource_hog")
class ResourceHogAgent:
    """In pair (1, 2) agent1 runs a fork bomb and a memory hog; every other agent writes a file."""

    def run(self, task: str, image: str, *, agent_id: str = "agent", config: Any = None, **kwargs: Any) -> AgentResult:
        hog = config["task"]["pair_features"] == [1, 2] and agent_id == "agent1"
        assert "task_dir" not in config["task"] and "dataset_dir" not in config["task"], "no path into the dataset"
        gold = DATASET / "minicalc_task" / "task2" / "feature1" / "feature.patch"
        with SandboxEnvironment(image) as env:
            base = base_commit(env)
            steps = []
            for command in [FORK_BOMB, MEMORY_HOG] if hog else []:
                steps.append({"role": "tool", "command": command, **env.execute(command, timeout=120)})
            # What a curious agent would try: its own run's logs and the dataset's gold patch.
            peek = env.execute(f"for p in {kwargs['log_dir']} {gold}; do test -e $p && echo VISIBLE $p; done; true")
            if "VISIBLE" in peek["output"]:
                raise AssertionError(f"the sandbox sees the run's logs or the dataset: {peek['output'][:500]}")
            env.execute(f"echo {agent_id} > {agent_id}.txt")
            return AgentResult(
                status="Submitted", patch=working_tree_patch(env, base), steps=len(steps), messages=steps
            )


@needs_cgroups
def test_a_hog_in_one_pair_is_recorded_and_other_pairs_finish(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("backend:\n  memory: 256m\n  pids: 128\n  cpus: 1\n")
    logs = tmp_path / "logs"
    run(
        "hogs",
        agent="t_resource_hog",
        repo="minicalc_task",
        task_id=2,
        concurrency=3,
        auto_eval=False,
        agent_config=str(config),
        dataset_dir=DATASET,
        logs_dir=logs,
        config={"backend": {"cache_dir": str(tmp_path / "cache")}},
    )
    task_logs = logs / "hogs" / "coop" / "minicalc_task" / "2"
    pairs = sorted(task_logs.iterdir())
    results = {p.name: json.loads((p / "result.json").read_text()) for p in pairs}
    assert len(results) >= 2 and "f1_f2" in results
    for name, result in results.items():
        for agent_id, record in result["agents"].items():
            assert record["status"] == "Submitted" and record["error"] is None, (name, agent_id, record)
            assert (
                f"b/{agent_id}.txt"
                in (logs / "hogs" / "coop" / "minicalc_task" / "2" / name / f"{agent_id}.patch").read_text()
            )
    trajectory = json.loads((logs / "hogs" / "coop" / "minicalc_task" / "2" / "f1_f2" / "agent1_traj.json").read_text())
    assert [step.get("resource_limit") for step in trajectory] == ["pids", "memory"]
    assert "process limit" in trajectory[0]["output"] and "out of memory" in trajectory[1]["output"]
    recorded = json.loads((logs / "hogs" / "config.json").read_text())["provenance"]["backend_settings"]
    assert recorded == {
        "network": "isolated",
        "memory_bytes": 256 << 20,
        "pids": 128,
        "cpus": 1.0,
        "default_timeout": 3600.0,
    }
