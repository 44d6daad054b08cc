"""Hostile code in the strict Docker sandbox: each attack is contained, reported with the right status,
and leaves the sandbox (and the pool it came from) usable and the host untouched."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from harness.sandbox import DockerSandbox, Sandbox, SandboxPool
from harness.sandbox._docker import shared_client

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

RUN_ID = "pytest-sandbox-hostile"

_PROCS = """
import os
me = os.getpid()
for p in sorted(os.listdir('/proc'), key=lambda x: (len(x), x)):
    if not p.isdigit() or int(p) == me:
        continue
    try:
        st = open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()
        cmd = open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0].decode()
    except OSError:
        continue
    if st[0] not in 'ZX':
        print(os.stat(f'/proc/{p}').st_uid, cmd)
"""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    async with SandboxPool(2, run_id=RUN_ID) as p:
        yield p
    leftovers = shared_client().containers.list(all=True, filters={"label": f"harness.run_id={RUN_ID}"}, ignore_removed=True)
    assert not leftovers, "closing the pool removes its containers"


async def _usable(sb: Sandbox) -> None:
    """The sandbox still runs commands, and only the command server is left among uid 1000's processes."""
    r = await sb.run(["python3", "-c", _PROCS])
    assert r.status == "ok", r
    user_procs = [ln for ln in r.stdout.splitlines() if ln.startswith("1000 ")]
    assert user_procs == ["1000 python3"], r.stdout


async def test_fork_bomb_is_contained(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
        r = await sb.run(["python3", "-c", bomb], timeout=3)
        assert r.status == "timeout"
        await _usable(sb)
        r = await sb.run("f() { f | f & }; f", timeout=3)  # the shell classic, backgrounded
        assert r.status in ("ok", "nonzero", "timeout")
        await _usable(sb)


async def test_memory_hog_is_oom(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        r = await sb.run(["python3", "-c", "x = b'x' * (3 << 30)"], timeout=60)
        assert r.status == "oom", r
        await _usable(sb)


async def test_cpu_loop_and_sleep_time_out(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        r = await sb.run(["python3", "-c", "while True: pass"], timeout=2)
        assert r.status == "timeout" and r.exit_code is not None
        r = await sb.run("sleep 600", timeout=1)
        assert r.status == "timeout"
        await _usable(sb)


async def test_setsid_daemon_does_not_outlive_the_timeout(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        script = "setsid sh -c 'while true; do sleep 1; done' > /dev/null 2>&1 < /dev/null & sleep 600"
        r = await sb.run(script, timeout=1)
        assert r.status == "timeout"
        await _usable(sb)  # the daemon is gone


async def test_output_flood_is_capped_head_and_tail(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        r = await sb.run("echo HEAD; yes flood | head -c 96000000; echo TAIL")
        assert r.status == "ok" and r.truncated
        assert r.stdout.startswith("HEAD\nflood\n") and r.stdout.endswith("flood\nTAIL\n")
        assert len(r.stdout) < 2 * 1_000_000 and "bytes truncated" in r.stdout
        r = await sb.run("yes >&2", timeout=2)  # endless, on stderr
        assert r.status == "timeout" and r.truncated and len(r.stderr) < 2 * 1_000_000
        await _usable(sb)


@pytest.mark.parametrize("where", ["/tmp", "/workspace"])
async def test_disk_fill_is_contained(pool: SandboxPool, where: str) -> None:
    async with pool.acquire() as sb:
        fill = f"for i in 1 2 3 4; do dd if=/dev/zero of={where}/fill$i bs=1M count=200 || exit 1; done"
        r = await sb.run(fill)
        assert r.status == "nonzero" and "No space left on device" in r.stderr, r
        r = await sb.run(f"df -k {where} | tail -1")
        assert r.status == "ok"
        await _usable(sb)
    async with pool.acquire() as sb:  # the release reset freed the space
        r = await sb.run(f"ls {where}/fill1")
        assert r.status == "nonzero"


async def test_file_size_limit(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        r = await sb.run("dd if=/dev/zero of=/workspace/big bs=1M count=600")
        assert r.status in ("nonzero", "killed") and r.exit_code in (153, -25), r  # SIGXFSZ at 512m
        await _usable(sb)


async def test_writes_outside_the_workspace_fail(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        for path in ("/etc/evil", "/evil", "/workspace/../evil", "/base/evil", "/usr/bin/evil"):
            r = await sb.run(["sh", "-c", 'echo x > "$0"', path])
            assert r.status == "nonzero", path
            assert (await sb.run(["test", "-e", path])).status == "nonzero", path
        await _usable(sb)


async def test_privilege_escalation_fails(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        for cmd in (
            "chown 0:0 /workspace",
            "mount -t tmpfs none /mnt",
            "python3 -c 'import os; os.setuid(0)'",
            "python3 -c 'import os; os.setgid(0)'",
            "echo x | su -c id root",
        ):
            r = await sb.run(cmd)
            assert r.status == "nonzero", (cmd, r)
        r = await sb.run("grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status; grep NoNewPrivs /proc/self/status")
        assert "CapEff:\t0000000000000000" in r.stdout and "NoNewPrivs:\t1" in r.stdout
        mounts = (await sb.run("grep -E ' (/workspace|/tmp) ' /proc/mounts")).stdout.splitlines()
        assert len(mounts) == 2 and all("nosuid" in m and "nodev" in m for m in mounts)
        await _usable(sb)


async def test_killing_init_and_others_leaves_the_sandbox_alive(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        r = await sb.run("kill -9 1")
        assert r.status == "nonzero"
        r = await sb.run(
            "for p in $(ls /proc | grep -E '^[0-9]+$'); do kill -9 $p 2>/dev/null; done; sleep 3"
        )
        assert r.status in ("killed", "error", "ok"), r
        r = await sb.run("kill -9 -1; sleep 3")
        assert r.status in ("killed", "error"), r
        await _usable(sb)


async def test_no_network(pool: SandboxPool) -> None:
    async with pool.acquire() as sb:
        tcp = "import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)"
        r = await sb.run(["python3", "-c", tcp])
        assert r.status == "nonzero" and ("unreachable" in r.stderr or "timed out" in r.stderr)
        r = await sb.run(["python3", "-c", "import socket; socket.getaddrinfo('example.com', 80)"])
        assert r.status == "nonzero" and "gaierror" in r.stderr
        r = await sb.run("cat /proc/net/dev")
        ifaces = [ln.split(":")[0].strip() for ln in r.stdout.splitlines()[2:]]
        assert ifaces == ["lo"]


async def test_host_secrets_and_docker_socket_are_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret-do-not-leak")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-host-secret")
    async with DockerSandbox(run_id=RUN_ID) as sb:
        r = await sb.run("env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
        assert "host-secret" not in r.stdout and "API_KEY" not in r.stdout
        for sock in ("/var/run/docker.sock", "/run/docker.sock"):
            assert (await sb.run(["test", "-e", sock])).status == "nonzero"
        r = await sb.run("find / -name 'docker.sock' 2>/dev/null | wc -l")
        assert r.stdout.strip() == "0"
        env_keys = {ln.split("=", 1)[0] for ln in (await sb.run("env")).stdout.splitlines()}
        assert env_keys <= {
            "PATH",
            "HOME",
            "LANG",
            "PYTHONDONTWRITEBYTECODE",
            "PWD",
            "SHLVL",
            "_",
            "HOSTNAME",
        }
    assert os.environ["OPENAI_API_KEY"].startswith("sk-host")  # the host is untouched


async def test_host_is_untouched() -> None:
    """The host's hostname and files are not reachable from inside (a different uts namespace and root)."""
    async with DockerSandbox(run_id=RUN_ID) as sb:
        r = await sb.run("hostname; ls /work /root 2>&1")
        assert socket.gethostname() not in r.stdout.splitlines()[0:1]
        assert "No such file" in r.stdout or "Permission denied" in r.stdout
