"""``multimapwithttl demo``: values visibly expire one by one; what it says when it cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import fakeredis
import pytest

from multimapwithttl._cli import DEMO_NEEDS, demo, main

from .servers import free_port


def test_demo_shows_values_expiring_individually(freezer: Any) -> None:
    lines: list[str] = []
    client = fakeredis.FakeRedis()
    demo(client, "a test fakeredis", out=lines.append, sleep=freezer.tick)
    text = "\n".join(lines)
    assert "a test fakeredis" in text
    rows = [line.split("  ", 1)[1] for line in lines if line.startswith("t=")]
    assert rows == [
        "alice=['laptop', 'phone', 'tablet']  bob=['desktop']  carol=['phone', 'watch']",
        "alice=['phone', 'tablet']  bob=['desktop']  carol=['phone', 'watch']",
        "alice=['tablet']  bob=['desktop']  carol=['phone', 'watch']",
        "alice=['tablet']  bob=[]  carol=[]",
        "alice=[]  bob=[]  carol=[]",
    ]
    assert "names left under the prefix: []" in text
    assert client.keys("*") == []


def test_demo_command_line_runs_on_embedded_fakeredis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    out = subprocess.run(
        [sys.executable, "-m", "multimapwithttl", "demo", "--scale", "0.05"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "embedded fakeredis" in out
    assert "every value expired on its own" in out


def test_demo_uses_redis_url_and_hides_passwords(
    monkeypatch: pytest.MonkeyPatch, real_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://:secret@127.0.0.1:{real_server.port}/0")
    real_server.client().config_set("requirepass", "secret")
    try:
        assert main(["demo", "--scale", "0.05"]) == 0
    finally:
        real_server.client(password="secret").config_set("requirepass", "")
    out = capsys.readouterr().out
    assert f"redis://***@127.0.0.1:{real_server.port}/0" in out
    assert "secret" not in out


def test_demo_without_fakeredis_or_redis_url_says_how_to_get_either() -> None:
    # fakeredis (the demo extra) cannot be imported and REDIS_URL is not set.
    code = (
        "import sys; sys.modules['fakeredis'] = None; "
        "from multimapwithttl._cli import main; sys.exit(main(['demo']))"
    )
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"multimapwithttl: error: {DEMO_NEEDS}\n"
    assert 'pip install "python-multimapwithttl[demo]"' in done.stderr
    assert "REDIS_URL" in done.stderr


@pytest.mark.parametrize("url", ["redis://127.0.0.1:{port}/0", "nonsense://x"])
def test_demo_with_a_failing_redis_url_is_one_line_and_exit_1(url: str) -> None:
    env = {**os.environ, "REDIS_URL": url.format(port=free_port())}
    done = subprocess.run(
        [sys.executable, "-m", "multimapwithttl", "demo"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""  # nothing printed before the server was reached
    assert done.stderr.startswith("multimapwithttl: error: ")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("scale", ["0", "-1", "nan"])
def test_demo_scale_must_be_positive(scale: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "multimapwithttl", "demo", "--scale", scale],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "usage: multimapwithttl demo" in done.stderr
