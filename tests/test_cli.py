"""The ``multimapwithttl`` command line: output, ``--json`` against the library, exit codes."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import runpy
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from multimapwithttl import MultiMapWithTTL, __version__
from multimapwithttl._cli import Progress, format_duration, format_size, main, table

from .servers import LocalCluster, RedisServer, free_port

PREFIX = "ops"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m multimapwithttl ARGS`` in a subprocess (to see exit codes and tracebacks)."""
    return subprocess.run(
        [sys.executable, "-m", "multimapwithttl", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def cli(*args: str) -> tuple[int, str]:
    """Run the command line in this process: (exit status, stdout)."""
    out = io.StringIO()
    try:
        status = main(list(args), out=out)
    except SystemExit as stop:  # argparse: --help, --version, usage errors
        status = int(stop.code or 0)
    return status, out.getvalue()


@pytest.fixture
def server(real_server: RedisServer) -> Iterator[tuple[redis.Redis, str]]:
    client = real_server.client()
    client.flushall()
    now = int(time.time())
    mm = MultiMapWithTTL(client, PREFIX, cast_fn=bytes)
    mm.add("alice", "laptop", ttl=192)
    mm.add("alice", "phone", ttl=7300)
    mm.add("alice", b"\xff-raw", ttl=3000)
    mm.add("bob", "desktop")
    client.zadd(f"{PREFIX}:leak", {"x": now + 600, "y": now - 100})  # as 0.1.0 leaves it
    client.zadd(f"{PREFIX}:dead", {"x": now - 100})
    client.set(f"{PREFIX}:config", "v")
    client.zadd("elsewhere:a", {"x": now - 100})
    yield client, f"redis://127.0.0.1:{real_server.port}/0"
    client.close()


# -- --json equals the library ----------------------------------------------------


def test_json_equals_the_library(server: tuple[redis.Redis, str]) -> None:
    client, url = server
    mm = MultiMapWithTTL(client, PREFIX, cast_fn=bytes)
    status, out = cli("stats", PREFIX, "--url", url, "--json")
    assert status == 0
    assert json.loads(out) == dataclasses.asdict(mm.stats())
    status, out = cli("sweep", PREFIX, "--dry-run", "--url", url, "--json")
    assert json.loads(out) == dataclasses.asdict(mm.sweep(dry_run=True))
    assert json.loads(out) == {
        "scanned": 5, "collected": 2, "ttl_fixed": 1, "deleted": 1, "foreign": 1
    }  # fmt: skip
    status, out = cli("names", PREFIX, "--url", url, "--json")
    assert json.loads(out) == {"names": sorted(mm.names())}
    status, out = cli("get", PREFIX, "alice", "--url", url, "--json")
    assert json.loads(out) == {
        "name": "alice",
        "values": [
            {"value": value.decode("utf-8", "backslashreplace"), "expire_at": when}
            for value, when in mm.get_with_expiry("alice")
        ],
    }
    assert [v["value"] for v in json.loads(out)["values"]] == ["laptop", "\\xff-raw", "phone"]
    status, out = cli("sweep", PREFIX, "--url", url, "--json")
    assert json.loads(out) == {
        "scanned": 5, "collected": 2, "ttl_fixed": 1, "deleted": 1, "foreign": 1
    }  # fmt: skip
    assert json.loads(cli("sweep", PREFIX, "--url", url, "--json")[1]) == dataclasses.asdict(
        mm.sweep()
    )
    assert client.exists("elsewhere:a")  # another prefix: untouched
    assert client.pttl(f"{PREFIX}:config") == -1  # a foreign key: untouched


def test_json_on_the_cluster(real_cluster: LocalCluster) -> None:
    client = RedisCluster(host="127.0.0.1", port=real_cluster.ports[0])
    try:
        for port in real_cluster.ports:
            redis.Redis(port=port).flushall()
        now = int(time.time())
        for i in range(50):
            client.zadd(f"{PREFIX}:n{i}", {"x": now + 600, "y": now - 100})
        mm = MultiMapWithTTL(client, PREFIX)
        url = f"redis://127.0.0.1:{real_cluster.ports[1]}/0"
        status, out = cli("stats", PREFIX, "--url", url, "--cluster", "--json")
        assert (status, json.loads(out)) == (0, dataclasses.asdict(mm.stats()))
        assert json.loads(out)["names"] == 50
        status, out = cli("sweep", PREFIX, "--url", url, "--cluster", "--json")
        assert json.loads(out) == {
            "scanned": 50, "collected": 50, "ttl_fixed": 50, "deleted": 0, "foreign": 0
        }  # fmt: skip
    finally:
        client.close()


# -- human output -------------------------------------------------------------------


def test_human_output(server: tuple[redis.Redis, str]) -> None:
    _, url = server
    status, out = cli("get", PREFIX, "alice", "--url", url)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["VALUE", "TIME", "LEFT", "EXPIRES", "AT"]
    cells = [line.split()[:2] for line in lines[1:]]
    assert [value for value, _ in cells] == ["laptop", "\\xff-raw", "phone"]
    # Whole-second expiry times: 192 s, 3000 s and 7300 s from the write, less what passed.
    assert [left for _, left in cells] in (
        ["3m12s", "50m00s", "2h01m"], ["3m11s", "49m59s", "2h01m"]
    )  # fmt: skip
    # Aligned: every row's third column starts where the header's does.
    column = lines[0].index("EXPIRES")
    assert all(line[column - 2 : column] == "  " and line[column] == "2" for line in lines[1:])

    status, out = cli("stats", PREFIX, "--url", url)
    rows = dict(_row(line) for line in out.splitlines() if line)
    assert rows["names"] == "4"
    assert rows["keys without TTL"] == "2"
    assert rows["memory"].endswith(" B")
    assert rows["soonest expiry"].startswith("in 3m1")
    assert "multimapwithttl sweep ops" in out

    status, out = cli("sweep", PREFIX, "--dry-run", "--url", url)
    assert out.splitlines()[0].startswith("dry run: nothing was written")
    assert "ttl fixed  1  keys" in out
    status, out = cli("get", PREFIX, "nobody", "--url", url)
    assert (status, out) == (0, "no live values under 'nobody'\n")


def _row(line: str) -> list[str]:
    label, _, value = line.partition("  ")
    return [label.strip(), value.strip()]


def test_names_and_an_empty_prefix(server: tuple[redis.Redis, str]) -> None:
    _, url = server
    assert cli("names", PREFIX, "--url", url) == (0, "alice\nbob\nconfig\ndead\nleak\n")
    _, out = cli("stats", "nothing-here", "--url", url)
    rows = dict(_row(line) for line in out.splitlines())
    assert (rows["names"], rows["memory"], rows["soonest expiry"]) == ("0", "0 B", "-")
    assert "to repair" not in out
    assert cli("names", "nothing-here", "--url", url) == (0, "")


def test_many_names_show_progress_on_a_terminal(
    real_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = real_server.client()
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for i in range(2100):
        pipe.zadd(f"many:{i:04d}", {"x": time.time() + 100})
    pipe.execute()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    status, out = cli("names", "many", "--url", f"redis://127.0.0.1:{real_server.port}/0")
    assert status == 0
    assert out.splitlines() == [f"{i:04d}" for i in range(2100)]
    assert "names: 1,000 keys" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\033[K")
    client.flushall()
    client.close()


def test_interrupted_exits_130(
    server: tuple[redis.Redis, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(MultiMapWithTTL, "sweep", interrupted)
    assert cli("sweep", PREFIX, "--url", server[1])[0] == 130
    assert capsys.readouterr().err == "multimapwithttl: interrupted\n"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-1, "expired"), (0.05, "0.0s"), (4.29, "4.2s"), (42.9, "42s"), (192, "3m12s"),
     (3599, "59m59s"), (3600, "1h00m"), (7300, "2h01m"), (86400 * 3 + 3600 * 4 + 5, "3d04h")],
)  # fmt: skip
def test_durations(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("size", "shown"),
    [(None, "unknown (the server has no MEMORY USAGE)"), (0, "0 B"), (999, "999 B"),
     (1000, "1.0 kB"), (1_234_567, "1.2 MB"), (999_960, "1.0 MB"), (5 * 10**12, "5.0 TB"),
     (10**16, "10000.0 TB")],
)  # fmt: skip
def test_sizes(size: int | None, shown: str) -> None:
    assert format_size(size) == shown


def test_table_aligns_columns() -> None:
    assert table([("a", "1", "x"), ("bbb", "1,000", "y")], right=(False, True, False)) == [
        "a        1  x",
        "bbb  1,000  y",
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    pipe = io.StringIO()
    progress = Progress("sweep", pipe, every=0)
    progress(10)
    progress.close()
    assert pipe.getvalue() == ""
    tty = _Terminal()
    progress = Progress("sweep", tty, every=0)
    progress(1000)
    progress(2000)
    progress.close()
    shown = tty.getvalue()
    assert "\rsweep: 1,000 keys" in shown.replace("\033[K", "")
    assert "2,000 keys" in shown
    assert shown.endswith("\r\033[K")  # erased at the end


def test_progress_goes_to_stderr_and_output_stays_clean(
    server: tuple[redis.Redis, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = server
    status = main(["stats", PREFIX, "--url", url, "--json"])
    captured = capsys.readouterr()
    assert status == 0
    json.loads(captured.out)  # stdout holds the JSON object alone
    assert captured.err == ""  # not a terminal: no progress


# -- errors and exit codes -----------------------------------------------------------


def test_a_refused_url_is_one_line_and_exit_1() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["stats", PREFIX], ["sweep", PREFIX], ["names", PREFIX], ["get", PREFIX, "a"]):
        done = run_cli(*args, "--url", url)
        assert done.returncode == 1, args
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("multimapwithttl: error: ")
        assert "onnection refused" in done.stderr
    done = run_cli("stats", PREFIX, "--cluster", "--url", url)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_redis_url_is_the_default_and_passwords_are_hidden(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://:secret@127.0.0.1:{port}/0")
    assert cli("stats", PREFIX)[0] == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err
    assert "secret" not in err


def test_server_errors_are_one_line_and_exit_1(
    real_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    client = real_server.client()
    client.flushall()
    client.zadd(f"{PREFIX}:a", {"x": time.time() + 100})
    client.config_set("min-replicas-to-write", 1)  # every write is refused
    try:
        status, _ = cli("sweep", PREFIX, "--url", f"redis://127.0.0.1:{real_server.port}/0")
    finally:
        client.config_set("min-replicas-to-write", 0)
        client.close()
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("multimapwithttl: error: NOREPLICAS")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["nonsense"],
        ["stats"],
        ["get", PREFIX],
        ["sweep", PREFIX, "--now"],
        ["stats", PREFIX, "--url", "foo://x"],
        ["demo", "--scale", "0"],
        ["demo", "--scale", "-1"],
        ["demo", "--scale", "nan"],
        ["demo", "--scale", "inf"],
        ["demo", "--scale", "fast"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(*args)[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: multimapwithttl")
    assert "Traceback" not in err


def test_a_name_redis_cannot_hold_is_a_usage_error(
    server: tuple[redis.Redis, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # A command line with bytes that are not UTF-8 gives Python lone surrogates.
    assert cli("get", PREFIX, "caf\udce9", "--url", server[1])[0] == 2
    assert cli("stats", "caf\udce9", "--url", server[1])[0] == 2
    err = capsys.readouterr().err
    assert err.count("usage: multimapwithttl") == 2
    assert "Traceback" not in err


def test_demo_errors_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert cli("demo", "--scale", "0.01") == (1, "")
    monkeypatch.setenv("REDIS_URL", "nonsense://x")
    assert cli("demo") == (1, "")
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setitem(sys.modules, "fakeredis", None)  # the demo extra is not installed
    assert cli("demo") == (1, "")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("multimapwithttl: error: ") for line in lines)
    assert "nonsense://x" in lines[1]
    assert "python-multimapwithttl[demo]" in lines[2]


def test_python_m_runs_the_same_main(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["multimapwithttl", "--version"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module("multimapwithttl", run_name="__main__")
    assert stop.value.code == 0


def test_version_and_usage_name_the_console_script() -> None:
    done = run_cli("--version")
    assert (done.returncode, done.stdout) == (0, f"multimapwithttl {__version__}\n")
    done = run_cli("--help")
    assert done.stdout.startswith("usage: multimapwithttl ")
    for command in ("demo", "names", "get", "stats", "sweep"):
        assert command in done.stdout


def test_the_console_script_is_the_same_command() -> None:
    script = shutil.which("multimapwithttl", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the console script is not installed next to this Python")
    done = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"multimapwithttl {__version__}\n")


def test_options_come_after_the_command() -> None:
    assert cli("--json", "stats", PREFIX)[0] == 2


def test_a_cluster_node_without_cluster_says_to_add_it(
    real_cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{real_cluster.ports[0]}/0"
    statuses = {main(["get", "p", f"name{i}", "--url", url]) for i in range(20)}
    err = capsys.readouterr().err
    assert statuses <= {0, 1}
    assert 1 in statuses  # some of the 20 names live on another node
    assert "add --cluster" in err
