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
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from multimapwithttl import MultiMapWithTTL, __version__
from multimapwithttl._cli import (
    Progress,
    format_duration,
    format_size,
    format_time,
    hide_password,
    main,
    table,
)

from .servers import LocalCluster, RedisServer, free_port

PREFIX = "ops"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m multimapwithttl ARGS`` in a subprocess (to see exit codes and tracebacks)."""
    return subprocess.run(
        [sys.executable, "-m", "multimapwithttl", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def as_json(report: object) -> object:
    """A report as the command line's ``--json`` gives it (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(report)))  # type: ignore[call-overload]


def strict_json(text: str) -> object:
    """Parse ``text`` as strict JSON: Infinity, -Infinity and NaN are refused."""

    def refuse(constant: str) -> object:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


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
    assert strict_json(out) == as_json(mm.stats())
    status, out = cli("sweep", PREFIX, "--dry-run", "--url", url, "--json")
    assert strict_json(out) == as_json(mm.sweep(dry_run=True))
    examples = {"collected": ["ops:leak"], "ttl_fixed": ["ops:leak"], "deleted": ["ops:dead"],
                "foreign": ["ops:config"]}  # fmt: skip
    assert json.loads(out) == {
        "scanned": 5, "collected": 2, "ttl_fixed": 1, "deleted": 1, "foreign": 1, "excluded": 0,
        "examples": examples,
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
        "scanned": 5, "collected": 2, "ttl_fixed": 1, "deleted": 1, "foreign": 1, "excluded": 0,
        "examples": examples,
    }  # fmt: skip
    assert json.loads(cli("sweep", PREFIX, "--url", url, "--json")[1]) == as_json(mm.sweep())
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
        assert (status, json.loads(out)) == (0, as_json(mm.stats()))
        assert json.loads(out)["names"] == 50
        status, out = cli("sweep", PREFIX, "--url", url, "--cluster", "--json")
        report = json.loads(out)
        assert len(report.pop("examples")["ttl_fixed"]) == 10
        assert report == {
            "scanned": 50, "collected": 50, "ttl_fixed": 50, "deleted": 0, "foreign": 0,
            "excluded": 0,
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
    # Sorted sets only: "config", a string under the prefix, is not a name.
    assert cli("names", PREFIX, "--url", url) == (0, "alice\nbob\ndead\nleak\n")
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


def test_times_beyond_what_datetime_holds_are_shown_as_numbers() -> None:
    assert format_duration(float("inf")) == "never"
    assert format_time(1e20) == "UNIX time 1e+20"
    assert format_time(float("inf")) == "UNIX time inf"


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


def test_a_cluster_node_without_cluster_is_detected(real_cluster: LocalCluster) -> None:
    client = RedisCluster(host="127.0.0.1", port=real_cluster.ports[0])
    try:
        for port in real_cluster.ports:
            redis.Redis(port=port).flushall()
        now = int(time.time())
        pipe = client.pipeline(transaction=False)
        for i in range(3000):
            pipe.zadd(f"{PREFIX}:n{i:04d}", {"old": now - 100, "live": now + 600})
        pipe.execute()
        client.zadd(f"{PREFIX}:leaderboard", {"a": 40, "b": 1200})
        url = f"redis://127.0.0.1:{real_cluster.ports[1]}/0"
        status, out = cli("names", PREFIX, "--url", url)
        assert status == 0
        assert out.splitlines() == sorted([f"n{i:04d}" for i in range(3000)] + ["leaderboard"])
        with_flag = cli("stats", PREFIX, "--url", url, "--cluster", "--json")
        assert cli("stats", PREFIX, "--url", url, "--json") == with_flag
        assert json.loads(with_flag[1])["names"] == 3000
        preview = cli("sweep", PREFIX, "--dry-run", "--url", url, "--cluster", "--json")
        assert (
            json.loads(cli("sweep", PREFIX, "--dry-run", "--url", url, "--json")[1])["scanned"]
            == json.loads(preview[1])["scanned"]
            == 3001
        )
        status, out = cli("sweep", PREFIX, "--url", url, "--json")
        report = json.loads(out)
        counts = {key: value for key, value in report.items() if key != "examples"}
        assert (status, counts) == (0, {
            "scanned": 3001, "collected": 3000, "ttl_fixed": 3000, "deleted": 0, "foreign": 1,
            "excluded": 0,
        })  # fmt: skip
        again = json.loads(cli("sweep", PREFIX, "--url", url, "--cluster", "--json")[1])
        assert (again["ttl_fixed"], again["collected"]) == (0, 0)
        # get: names held by every node, without a MOVED error.
        for i in range(0, 3000, 300):
            status, out = cli("get", PREFIX, f"n{i:04d}", "--url", url, "--json")
            assert (status, [v["value"] for v in json.loads(out)["values"]]) == (0, ["live"])
    finally:
        client.close()


# -- hardened: passwords, pipes, odd names, odd data, permissions ----------------------

SECRET_URLS = [
    "redis://user:hunter@S3cr3tTail@127.0.0.1:{port}/0",
    "redis://user:hunter%40S3cr3tTail@127.0.0.1:{port}/0",
    "redis://user:hunter:S3cr3tTail@127.0.0.1:{port}/0",
    "redis://:hunter@S3cr3tTail@127.0.0.1:{port}/0",
    "redis://127.0.0.1:{port}/0?password=hunter@S3cr3tTail",
    "redis://user:hunter@S3cr3tTail@127.0.0.1:notaport/0",
    "redis://user:hunter/S3cr3tTail@127.0.0.1:{port}/0",
]


@pytest.mark.parametrize("template", SECRET_URLS)
def test_a_password_is_never_printed(template: str) -> None:
    url = template.format(port=free_port())
    assert "S3cr3tTail" not in hide_password(url)
    assert "hunter" not in hide_password(url)
    for args in (["stats", PREFIX], ["names", PREFIX], ["sweep", PREFIX], ["get", PREFIX, "a"]):
        done = run_cli(*args, "--url", url)
        assert done.returncode in (1, 2), (args, done.stderr)
        shown = done.stdout + done.stderr
        assert "S3cr3tTail" not in shown, shown
        assert "hunter" not in shown, shown
        assert "Traceback" not in shown
    done = run_cli("demo", env={"REDIS_URL": url})
    assert "S3cr3tTail" not in done.stderr + done.stdout
    assert "hunter" not in done.stderr + done.stdout


def test_the_host_stays_visible_when_the_password_is_hidden() -> None:
    url = "redis://user:p@ss@cache.internal:6379/0"
    assert hide_password(url) == "redis://***@cache.internal:6379/0"
    assert hide_password("redis://cache.internal:6379/0") == "redis://cache.internal:6379/0"


def test_output_to_a_closed_pipe_ends_quietly(real_server: RedisServer) -> None:
    client = real_server.client()
    client.flushall()
    now = int(time.time())
    pipe = client.pipeline(transaction=False)
    for i in range(20_000):  # far more than a pipe's buffer holds
        pipe.zadd(f"pipe:a-rather-long-name-{i:06d}", {"x": now + 600})
    pipe.execute()
    command = [sys.executable, "-m", "multimapwithttl", "names", "pipe",
               "--url", f"redis://127.0.0.1:{real_server.port}/0"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # as `head -1` does
        err = process.stderr.read()
        status = process.wait(timeout=60)
    assert first == b"a-rather-long-name-000000\n"
    assert err == b""
    assert status in (0, 141, -13)  # done, or ended as by SIGPIPE
    client.flushall()
    client.close()


def test_names_with_control_characters_are_escaped_in_text(
    server: tuple[redis.Redis, str],
) -> None:
    client, url = server
    now = int(time.time())
    odd = ["two\nlines", "tab\there", "\x1b[31mred", "line\u2028sep", "caf\u00e9 ok"]
    for name in odd:
        client.zadd(f"{PREFIX}:{name}", {"x": now + 600})
    status, out = cli("names", PREFIX, "--url", url)
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 4 + len(odd)  # one line per name
    for shown in ("two\\nlines", "tab\\there", "\\x1b[31mred", "line\\u2028sep", "caf\u00e9 ok"):
        assert shown in lines
    status, out = cli("names", PREFIX, "--url", url, "--json")
    assert set(odd) <= set(json.loads(out)["names"])  # JSON is exact
    status, out = cli("get", PREFIX, "two\nlines", "--url", url)
    assert status == 0
    assert len(out.splitlines()) == 2


def test_odd_data_gives_valid_output_and_no_traceback(real_server: RedisServer) -> None:
    client = real_server.client()
    client.flushall()
    now = int(time.time())
    client.zadd("odd:fine", {"x": now + 600, "y": now - 5})
    client.zadd("odd:inf", {"x": float("inf"), "y": now + 600})
    client.zadd("odd:big", {"x": 1e20})
    client.zadd("odd:neg", {"x": float("-inf")})
    url = f"redis://127.0.0.1:{real_server.port}/0"
    for args in (["stats", "odd"], ["sweep", "odd", "--dry-run"], ["get", "odd", "inf"],
                 ["get", "odd", "big"], ["sweep", "odd"]):  # fmt: skip
        text = run_cli(*args, "--url", url)
        assert (text.returncode, text.stderr) == (0, ""), args
        as_json = run_cli(*args, "--url", url, "--json")
        assert (as_json.returncode, as_json.stderr) == (0, ""), args
        strict_json(as_json.stdout)
    stats = strict_json(run_cli("stats", "odd", "--url", url, "--json").stdout)
    assert isinstance(stats, dict)
    assert (stats["names"], stats["foreign_keys"], stats["latest_expiry"]) == (1, 3, now + 600)
    rows = dict(_row(line) for line in run_cli("stats", "odd", "--url", url).stdout.splitlines()
                if line)  # fmt: skip
    assert rows["foreign keys"] == "3"
    assert client.zscore("odd:inf", "x") == float("inf")
    assert client.zscore("odd:big", "x") == 1e20
    client.close()


def test_exclude_and_examples_on_the_command_line(server: tuple[redis.Redis, str]) -> None:
    client, url = server
    now = int(time.time())
    client.zadd(f"{PREFIX}:lastseen", {"u1": now - 86_400, "u2": now - 3600})
    client.zadd(f"{PREFIX}:leaderboard", {"a": 40, "b": 1200})
    status, out = cli("sweep", PREFIX, "--dry-run", "--url", url)
    assert status == 0
    assert "  deleted: ops:dead, ops:lastseen" in out or "  deleted: ops:lastseen, ops:dead" in out
    foreign_line = next(line for line in out.splitlines() if line.startswith("  foreign"))
    assert "ops:leaderboard" in foreign_line
    assert "ops:config" in foreign_line
    args = ["--exclude", "ops:last*", "--exclude", "ops:nothing", "--url", url]
    status, out = cli("sweep", PREFIX, *args)
    assert status == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[:6]}
    assert (rows["excluded"], rows["deleted"], rows["foreign"]) == ("1", "1", "2")
    assert client.zcard(f"{PREFIX}:lastseen") == 2
    assert client.pttl(f"{PREFIX}:lastseen") == -1
    assert client.zcard(f"{PREFIX}:leaderboard") == 2
    assert cli("sweep", PREFIX, "--exclude", "ops:[x", "--url", url)[0] == 2


def test_a_bad_exclude_glob_is_shown_as_typed(
    server: tuple[redis.Redis, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("sweep", PREFIX, "--exclude", "ops:[x", "--url", server[1]) == (2, "")
    err = capsys.readouterr().err
    assert "exclude pattern 'ops:[x': '[' without a closing ']'" in err
    assert "b'" not in err


def _leaked_with_a_last_seen_set(client: redis.Redis) -> list[str]:
    """21 keys a sweep deletes, a "last seen" set among them; the fixture's "ops:dead" too."""
    now = int(time.time())
    for i in range(20):
        client.zadd(f"{PREFIX}:gone{i:02d}", {"x": now - 100})
    client.zadd(f"{PREFIX}:lastseen", {"u1": now - 86_400, "u2": now - 3600})
    return [f"{PREFIX}:gone{i:02d}" for i in range(20)] + [f"{PREFIX}:lastseen", f"{PREFIX}:dead"]


def _everything(client: redis.Redis) -> dict[bytes, Any]:
    return {key: (client.dump(key), client.pexpiretime(key)) for key in client.scan_iter()}


def test_dry_run_list_gives_every_key_the_sweep_would_change(
    server: tuple[redis.Redis, str],
) -> None:
    client, url = server
    doomed = _leaked_with_a_last_seen_set(client)
    before = _everything(client)
    status, out = cli("sweep", PREFIX, "--dry-run", "--url", url)
    assert status == 0
    examples = next(line for line in out.splitlines() if line.startswith("  deleted: "))
    assert len(examples.split(", ")) == 10  # the examples leave most of them out
    assert "every key: --dry-run --list" in out

    status, out = cli("sweep", PREFIX, "--dry-run", "--list", "--url", url)
    assert status == 0
    lines = sorted(line.split("\t") for line in out.splitlines())
    expected = [["collected", "ops:leak"], ["ttl_fixed", "ops:leak"]]
    expected += [["deleted", key] for key in doomed]
    assert lines == sorted(expected)
    assert ["deleted", "ops:lastseen"] in lines

    status, out = cli("sweep", PREFIX, "--dry-run", "--list", "--json", "--url", url)
    assert status == 0
    rows = [strict_json(line) for line in out.splitlines()]
    assert sorted([row["action"], row["key"]] for row in rows) == sorted(expected)  # type: ignore[index]
    assert _everything(client) == before  # listing wrote nothing

    # The library's listing is the same.
    listed: list[list[str]] = []
    mm = MultiMapWithTTL(client, PREFIX, cast_fn=bytes)
    mm.sweep(dry_run=True, on_key=lambda key, action: listed.append([action, key]))
    assert sorted(listed) == sorted(expected)
    # And --exclude protects what the listing showed.
    status, out = cli("sweep", PREFIX, "--dry-run", "--list", "--exclude", "ops:last*",
                      "--url", url)  # fmt: skip
    assert "ops:lastseen" not in out
    assert out.count("\n") == len(expected) - 1


def test_list_without_dry_run_is_refused(
    server: tuple[redis.Redis, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client, url = server
    _leaked_with_a_last_seen_set(client)
    before = _everything(client)
    for args in (["--list"], ["--list", "--json"]):
        assert cli("sweep", PREFIX, *args, "--url", url) == (2, "")
        err = capsys.readouterr().err
        assert err.startswith("usage: multimapwithttl")
        assert "--list needs --dry-run" in err
    assert _everything(client) == before  # nothing swept


def test_sweep_help_warns_about_last_seen_sets(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("sweep", "--help")[0] == 0
    text = " ".join(capsys.readouterr().out.split())
    assert '"last seen" set' in text
    assert "--exclude" in text.partition("WARNING")[2]
    assert "--list" in text


def test_memory_usage_not_permitted_is_said_so(
    real_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = real_server.client()
    admin.flushall()
    admin.zadd(f"{PREFIX}:a", {"x": time.time() + 100})
    admin.execute_command("ACL", "SETUSER", "cli-nomem", "reset", "on", ">pw", "~*", "+@all",
                          "-memory")  # fmt: skip
    admin.execute_command("ACL", "SETUSER", "cli-noscan", "reset", "on", ">pw", "~*", "+@all",
                          "-scan")  # fmt: skip
    try:
        url = f"redis://cli-nomem:pw@127.0.0.1:{real_server.port}/0"
        status, out = cli("stats", PREFIX, "--url", url)
        assert status == 0
        assert "memory unknown (no permission for MEMORY USAGE)" in " ".join(out.split())
        status, out = cli("stats", PREFIX, "--url", url, "--json")
        assert json.loads(out)["memory_unknown"] == "no permission for MEMORY USAGE"
        capsys.readouterr()
        url = f"redis://cli-noscan:pw@127.0.0.1:{real_server.port}/0"
        assert cli("stats", PREFIX, "--url", url)[0] == 1
        err = capsys.readouterr().err
        assert err.startswith("multimapwithttl: error: SCAN refused")
        assert err.count("\n") == 1
    finally:
        admin.acl_deluser("cli-nomem", "cli-noscan")
        admin.close()


def test_a_latin1_url_shows_and_finds_what_a_latin1_client_wrote(
    server: tuple[redis.Redis, str],
) -> None:
    client, url = server
    from .test_encoding import CLIENT_ENCODES

    if not CLIENT_ENCODES:
        pytest.skip("this redis-py packs str as UTF-8 whatever its encoding (5.0 with hiredis)")
    latin1 = redis.Redis.from_url(url, encoding="latin-1")
    try:
        latin1.zadd("lat:café", {"thé": time.time() + 100})  # as 0.1.0 writes it
    finally:
        latin1.close()
    assert client.exists(b"lat:caf\xe9")
    url += "?encoding=latin-1"
    assert json.loads(cli("names", "lat", "--url", url, "--json")[1]) == {"names": ["café"]}
    status, out = cli("get", "lat", "café", "--url", url, "--json")
    assert status == 0
    assert [v["value"] for v in json.loads(out)["values"]] == ["thé"]
    assert json.loads(cli("stats", "lat", "--url", url, "--json")[1])["live_values"] == 1
