"""``python -m multimapwithttl demo``: values visibly expire one by one."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import fakeredis
import pytest

from multimapwithttl.__main__ import demo, main


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
