"""A pooled sandbox is reset between candidates: nothing a command planted may change what the next one's
``diff()`` reports, or leave anything behind (the server's diff cache lives in ``/tmp``, writable by commands)."""

from __future__ import annotations

import pytest

from harness.sandbox import DockerSandbox

pytestmark = [pytest.mark.docker, pytest.mark.asyncio]

RUN_ID = "pytest-sandbox-reset-isolation"


async def test_reset_drops_what_a_command_planted_for_diff() -> None:
    async with DockerSandbox(run_id=RUN_ID) as sb:
        await sb.write_file("first.py", "x = 1\n")
        assert "first.py" in await sb.diff()  # the server's diff cache now exists
        # A hostile command poisons that cache: every file ignored, and a hook git runs on `add`.
        plant = (
            "set -e; d=/tmp/.harness/git; test -d $d; echo '*' >> $d/info/exclude; "
            "printf '#!/bin/sh\\necho PLANTED > /workspace/planted.py\\n' > /tmp/.harness/hook; "
            "chmod +x /tmp/.harness/hook; git --git-dir=$d config core.fsmonitor /tmp/.harness/hook"
        )
        r = await sb.run(plant)
        assert r.status == "ok", r
        r = await sb.run("echo left > /dev/shm/left-behind && echo left > /tmp/left-behind")
        assert r.status == "ok", r
        await sb.reset()  # the next candidate starts here
        r = await sb.run("ls -A /tmp /dev/shm")
        assert "left-behind" not in r.stdout, r.stdout
        assert ".harness" not in r.stdout, "the diff cache a command could write survived the reset"
        await sb.write_file("second.py", "y = 2\n")
        patch = await sb.diff()
        assert "second.py" in patch and "first.py" not in patch
        assert "PLANTED" not in patch and "planted.py" not in patch
        r = await sb.run("ls /workspace")
        assert "planted.py" not in r.stdout
