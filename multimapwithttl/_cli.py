"""The ``multimapwithttl`` command line (also ``python -m multimapwithttl``).

A thin user of the public API: every command builds a ``MultiMapWithTTL``
and calls its public methods (``names``, ``get_with_expiry``, ``stats``,
``sweep``); nothing here knows how keys are stored.

    multimapwithttl demo [--scale S]
    multimapwithttl names PREFIX [--url URL] [--cluster] [--json]
    multimapwithttl get PREFIX NAME [...]
    multimapwithttl stats PREFIX [...]
    multimapwithttl sweep PREFIX [--dry-run [--list]] [--exclude GLOB] [...]
    multimapwithttl --version

Exit status: 0 done, 1 a server or connection error (one line on stderr),
2 a usage error, 130 interrupted, 141 the reader of stdout went away (as a
program killed by SIGPIPE: ``multimapwithttl names P | head -1``).

Pointed at a cluster node, every command finds out (INFO cluster) and uses a
cluster client, ``--cluster`` or not: a plain client would see one node's
keys only.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import math
import os
import re
import shlex
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from . import MultiMapWithTTL, Stats, SweepReport, __version__

PROG = "multimapwithttl"
DEFAULT_URL = "redis://localhost:6379/0"
#: What ``demo`` says when it has neither a server nor fakeredis.
DEMO_NEEDS = (
    "multimapwithttl demo needs a Redis server or fakeredis: set REDIS_URL "
    "(e.g. REDIS_URL=redis://localhost:6379/0), "
    'or pip install "python-multimapwithttl[demo]"'
)


#: Exit status when stdout's reader went away: 128 + SIGPIPE, as the shell shows it.
EXIT_PIPE = 141


class CommandError(Exception):
    """A failure to report in one line on stderr, with exit status 1."""


class ReaderGone(Exception):
    """Writing to stdout failed with a broken pipe: the reader has gone away."""


class Output:
    """The command's stdout: a broken pipe becomes ``ReaderGone``, nothing else.

    Only output to stdout may end the command quietly; a broken pipe to the
    server is a connection error like any other.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        """Write ``text``; a closed pipe raises ``ReaderGone``."""
        try:
            self.stream.write(text)
        except BrokenPipeError:
            raise ReaderGone from None

    def flush(self) -> None:
        """Flush (a pipe's buffer is written here, so this is where it breaks)."""
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise ReaderGone from None


# -- formatting ---------------------------------------------------------------


_PASSWORD_PARAM = re.compile(r"(?i)([?&;]password=)[^&;#]*")


def hide_password(url: str) -> str:
    """``url`` with its user:password part, and any ``password=`` parameter, as ``***``.

    redis-py takes the host after the *last* ``@`` (``urllib.parse``), so a
    password may hold ``@`` (and ``:``, ``/``, ``%40``...): everything from
    the scheme to the last ``@`` is hidden. Hiding too much is harmless.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    rest = _PASSWORD_PARAM.sub(r"\1***", rest)  # first: its value may hold "@" too
    at = rest.rfind("@")
    if at >= 0:
        rest = "***" + rest[at:]
    return head + sep + rest


def secrets_of(url: str) -> list[str]:
    """Every text that could give away the password of ``url``, longest first.

    The password as given and %-decoded, and its parts between ``@``, ``:``
    and ``/`` (a parser that splits elsewhere than redis-py would quote one
    of those); parts shorter than 3 characters are left, to keep messages
    readable.
    """
    rest = url.partition("://")[2] or url
    # The user part ends before the query (whose password= is taken below).
    at = re.split(r"[?#]", rest, maxsplit=1)[0].rfind("@")
    found: set[str] = set()
    if at >= 0:
        userinfo = rest[:at]
        found.update((userinfo, userinfo.partition(":")[2]))
    found.update(m.group(1) for m in re.finditer(r"(?i)[?&;]password=([^&;#]*)", rest))
    for secret in list(found):
        found.add(urllib.parse.unquote(secret))
    for secret in list(found):
        found.update(re.split(r"[@:/]", secret))
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def scrub(text: str, url: str | None) -> str:
    """``text`` with every trace of ``url``'s password replaced by ``***``."""
    if not url:
        return text
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """``text`` for one line of a terminal: control and other unprintable characters escaped.

    As Python's repr() writes them (a newline as backslash-n, ESC as
    backslash-x1b), so a name holding a newline prints as one line;
    ``--json`` gives the exact text.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def format_duration(seconds: float) -> str:
    """A time left as a person reads it: ``4.2s``, ``42s``, ``3m12s``, ``5h07m``, ``3d04h``."""
    if math.isnan(seconds):
        return "unknown"
    if seconds < 0:
        return "expired"
    if math.isinf(seconds):
        return "never"
    if seconds < 10:
        return f"{math.floor(seconds * 10) / 10:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def format_size(size: int | None, unknown: str | None = None) -> str:
    """Bytes as a person reads them: ``512 B``, ``1.2 MB`` (powers of 1000).

    ``None`` is shown as unknown, with ``unknown`` as the reason.
    """
    if size is None:
        return f"unknown ({unknown or 'the server has no MEMORY USAGE'})"
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_time(when: float) -> str:
    """A UNIX time as local ISO 8601 to the second, with its offset.

    A time ``datetime`` cannot hold (beyond year 9999, infinite) is shown as
    the number itself: odd data never stops the output.
    """
    try:
        moment = datetime.datetime.fromtimestamp(when).astimezone()
    except (OverflowError, ValueError, OSError):
        return f"UNIX time {when:.17g}"
    return moment.isoformat(timespec="seconds")


def table(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Rows as aligned columns (two spaces apart); ``right`` says which are right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(right))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if flush else cell.ljust(width)
            for cell, width, flush in zip(row, widths, right, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


class Progress:
    """Keys looked at so far, redrawn on one line of a terminal (stderr only).

    Does nothing when the stream is not a terminal, so pipes and logs get
    the result alone.
    """

    def __init__(self, label: str, stream: TextIO | None = None, every: float = 0.2) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.label = label
        self.every = every
        self.active = self.stream.isatty()
        self.start = time.monotonic()
        self.shown = 0.0

    def __call__(self, count: int) -> None:
        """Show ``count`` (at most every ``every`` seconds)."""
        if not self.active:
            return
        now = time.monotonic()
        if now - self.shown < self.every:
            return
        self.shown = now
        rate = count / max(now - self.start, 1e-9)
        self.stream.write(f"\r\033[K{self.label}: {count:,} keys ({rate:,.0f} keys/s)")
        self.stream.flush()

    def close(self) -> None:
        """Erase the progress line."""
        if self.active and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


# -- the demo -------------------------------------------------------------------


def demo(
    client: Any,
    where: str,
    *,
    scale: float = 1.0,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Show values expiring individually; ``scale`` shrinks every duration."""
    prefix = f"multimapwithttl-demo-{os.getpid()}"
    sessions = MultiMapWithTTL(client, prefix, ttl=4 * scale, cast_fn=str, resolution=0.001)
    out(f"multimapwithttl {__version__} demo on {where}")
    out(f"keys live under {prefix!r}; each value has its own lifetime\n")
    start = time.monotonic()
    sessions.add("alice", "laptop", ttl=1 * scale)
    sessions.add("alice", "phone", ttl=2 * scale)
    sessions.add("alice", "tablet")  # the default ttl
    sessions.add_many([("bob", ["desktop"]), ("carol", ["phone", "watch"])], ttl=3 * scale)
    try:
        # Look at t = 0, then half-way between expiries: 1.5, 2.5, 3.5, 4.5 s.
        for pause in (0.0, 1.5, 1.0, 1.0, 1.0):
            sleep(pause * scale)
            rows = {name: sorted(sessions.get(name)) for name in ("alice", "bob", "carol")}
            shown = "  ".join(f"{name}={values}" for name, values in rows.items())
            out(f"t={time.monotonic() - start:4.1f}s  {shown}")
        out(f"\nnames left under the prefix: {sorted(sessions.names())}")
        out("every value expired on its own; the keys went away with their last value.")
    finally:
        sessions.delete("alice", "bob", "carol")


def _demo_client() -> tuple[Any, str]:
    url = os.environ.get("REDIS_URL")
    if url:
        try:
            client = _connect(url, cluster=False)
        except ValueError as error:
            raise CommandError(f"REDIS_URL={hide_password(url)}: {error}") from None
        client.ping()  # a server that cannot be reached fails here, before the demo starts
        return client, f"the Redis server at REDIS_URL={hide_password(url)}"
    try:
        fakeredis = importlib.import_module("fakeredis")
        importlib.import_module("lupa")  # fakeredis runs the library's Lua scripts with it
    except ImportError:
        raise CommandError(DEMO_NEEDS) from None
    return fakeredis.FakeRedis(), "an embedded fakeredis (set REDIS_URL to use a real server)"


# -- the commands ---------------------------------------------------------------


def _connect(url: str, *, cluster: bool) -> Any:
    """A client for ``url``; a malformed URL is a usage error (ValueError)."""
    if cluster:
        # Connects (and learns the slots) right away: errors are exit 1.
        return RedisCluster.from_url(url, socket_connect_timeout=10)
    return redis.Redis.from_url(url, socket_connect_timeout=10)


def _refused(error: Exception) -> bool:
    return type(error).__name__ == "NoPermissionError" or str(error).startswith("NOPERM")


def is_cluster_node(client: Any) -> bool:
    """Whether the server ``client`` talks to is a cluster node (cluster mode enabled).

    Asks CLUSTER INFO, which a standalone server answers with "cluster
    support disabled" (the narrowest grant: ``+cluster|info``); a user not
    allowed it is asked INFO cluster. When neither may run, the answer cannot
    be known: a plain client on a cluster node would give a silently partial
    answer, so this says what to do instead.
    """
    try:
        client.execute_command("CLUSTER", "INFO")
    except ResponseError as error:
        if not _refused(error):
            return False  # "This instance has cluster support disabled"
    else:
        return True
    try:
        return bool(client.info("cluster").get("cluster_enabled"))
    except ResponseError as error:
        if not _refused(error):
            raise
        raise CommandError(
            "cannot tell whether the server is a cluster node (this user may run neither "
            "CLUSTER INFO nor INFO): add --cluster for a cluster, or grant +cluster|info"
        ) from None


def _client_for(url: str, *, cluster: bool) -> Any:
    """A client for ``url``: a cluster client when asked, or when the server is a cluster node."""
    client = _connect(url, cluster=cluster)
    if cluster:
        return client
    try:
        if not is_cluster_node(client):
            return client
    except BaseException:
        client.close()
        raise
    client.close()
    return _connect(url, cluster=True)


def _finite(data: Any) -> Any:
    """``data`` with every infinite or NaN float as None: JSON has no such numbers."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data


def _print_json(out: Output, data: object) -> None:
    # Strict JSON whatever the data: no Infinity or NaN (other tools refuse them).
    out.write(json.dumps(_finite(data), ensure_ascii=False, allow_nan=False) + "\n")


def _names(mm: MultiMapWithTTL[Any], args: argparse.Namespace, out: Output) -> None:
    progress = Progress("names")
    try:
        found = []
        for name in mm.names():
            found.append(name)
            if len(found) % 1000 == 0:
                progress(len(found))
    finally:
        progress.close()
    found.sort()
    if args.json:
        _print_json(out, {"names": found})
        return
    for name in found:
        out.write(escape(name) + "\n")


def _get(mm: MultiMapWithTTL[Any], args: argparse.Namespace, out: Output) -> None:
    rows = mm.get_with_expiry(args.name)
    now = time.time()
    # As the client decodes (UTF-8 unless the URL says "?encoding=latin-1"):
    # the text the values were written as.
    encoding = mm.redis.get_encoder().encoding
    values = [(value.decode(encoding, "backslashreplace"), when) for value, when in rows]
    if args.json:
        listed = [{"value": value, "expire_at": when} for value, when in values]
        _print_json(out, {"name": args.name, "values": listed})
        return
    if not values:
        out.write(f"no live values under {escape(repr(args.name))}\n")
        return
    lines = [("VALUE", "TIME LEFT", "EXPIRES AT")]
    lines += [
        (escape(value), format_duration(when - now), format_time(when)) for value, when in values
    ]
    for line in table(lines, right=(False, True, False)):
        out.write(line + "\n")


def _stats_lines(stats: Stats, prefix: str) -> list[str]:
    now = time.time()

    def expiry(when: float | None) -> str:
        if when is None or not math.isfinite(when):
            return "-"
        return f"in {format_duration(when - now)} ({format_time(when)})"

    rows = [
        ("prefix", escape(prefix)),
        ("names", f"{stats.names:,}"),
        ("live values", f"{stats.live_values:,}"),
        ("expired values", f"{stats.expired_values:,}"),
        ("keys without TTL", f"{stats.keys_without_ttl:,}"),
        ("foreign keys", f"{stats.foreign_keys:,}"),
        ("memory", format_size(stats.memory_bytes, stats.memory_unknown)),
        ("soonest expiry", expiry(stats.soonest_expiry)),
        ("latest expiry", expiry(stats.latest_expiry)),
    ]
    lines = table(rows, right=(False, False))
    if stats.keys_without_ttl or stats.expired_values:
        lines.append("")
        command = escape(shlex.quote(prefix))
        lines.append(f"to repair: multimapwithttl sweep {command} (preview: --dry-run)")
    return lines


def _stats(mm: MultiMapWithTTL[Any], args: argparse.Namespace, out: Output) -> None:
    progress = Progress("stats")
    try:
        stats = mm.stats(progress=progress)
    finally:
        progress.close()
    if args.json:
        _print_json(out, dataclasses.asdict(stats))
        return
    for line in _stats_lines(stats, args.prefix):
        out.write(line + "\n")


#: How each action's example keys are introduced.
_EXAMPLE_LABELS = {
    "collected": "expired values collected from",
    "ttl_fixed": "ttl fixed",
    "deleted": "deleted",
    "foreign": "foreign, left untouched",
}


def _sweep_lines(report: SweepReport, dry_run: bool) -> list[str]:
    rows = [
        ("scanned", f"{report.scanned:,}", "keys"),
        ("collected", f"{report.collected:,}", "expired values"),
        ("ttl fixed", f"{report.ttl_fixed:,}", "keys"),
        ("deleted", f"{report.deleted:,}", "keys (only expired values)"),
        ("foreign", f"{report.foreign:,}",
         "keys that are not multimaps (other types, scores that are not expiry times), "
         "left untouched"),
    ]  # fmt: skip
    if report.excluded:
        rows.append(("excluded", f"{report.excluded:,}", "keys matching --exclude, not read"))
    lines = table(rows, right=(False, True, False))
    if dry_run:
        lines.insert(0, "dry run: nothing was written; a sweep would report:")
    shown = [(action, keys) for action, keys in report.examples.items() if keys]
    if shown:
        lines.append("")
        every = "; every key: --dry-run --list" if dry_run else ""
        lines.append(f"for example (up to 10 keys each{every}):")
        for action, keys in shown:
            label = _EXAMPLE_LABELS.get(action, action)
            lines.append(f"  {label}: " + ", ".join(escape(key) for key in keys))
    return lines


def _key_line(out: Output, as_json: bool) -> Callable[[str, str], None]:
    """What writes one line of ``sweep --dry-run --list`` as soon as its key is known."""
    if as_json:
        return lambda key, action: _print_json(out, {"action": action, "key": key})
    # A tab between: a key holding one has it escaped, so the line splits once.
    return lambda key, action: out.write(f"{action}\t{escape(key)}\n")


def _sweep(mm: MultiMapWithTTL[Any], args: argparse.Namespace, out: Output) -> None:
    progress = Progress("dry run" if args.dry_run else "sweep")
    if args.list:
        # Streamed, batch by batch: a listing of millions of keys holds none of them.
        try:
            mm.sweep(
                dry_run=True,
                exclude=args.exclude,
                progress=progress,
                on_key=_key_line(out, args.json),
            )
        finally:
            progress.close()
        return
    try:
        report = mm.sweep(dry_run=args.dry_run, exclude=args.exclude, progress=progress)
    finally:
        progress.close()
    if args.json:
        _print_json(out, dataclasses.asdict(report))
        return
    for line in _sweep_lines(report, args.dry_run):
        out.write(line + "\n")


_COMMANDS: dict[str, Callable[[MultiMapWithTTL[Any], argparse.Namespace, Output], None]] = {
    "names": _names,
    "get": _get,
    "stats": _stats,
    "sweep": _sweep,
}


# -- arguments ------------------------------------------------------------------


# The demo runs about 5 s times the scale: beyond this it would run for hours.
MAX_SCALE = 1000.0


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 < value <= MAX_SCALE):
        raise argparse.ArgumentTypeError(
            f"must be a number above 0 and at most {MAX_SCALE:g}, got {text!r}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subcommand each, options after the command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A multimap kept in Redis in which every value expires on its own: "
        "a demo, and tools to look at and repair a prefix.",
        epilog="Exit status: 0 done, 1 server or connection error, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    server = argparse.ArgumentParser(add_help=False)
    from_env = os.environ.get("REDIS_URL")
    server.add_argument(
        "--url",
        default=from_env or DEFAULT_URL,
        # Never show $REDIS_URL itself in --help: it may hold a password.
        help=f"the server (default: $REDIS_URL{'' if from_env else ', else ' + DEFAULT_URL})",
    )
    server.add_argument("--cluster", action="store_true", help="connect as a cluster client")
    server.add_argument("--json", action="store_true", help="print one JSON object")

    run = commands.add_parser(
        "demo",
        help="watch values expire one by one",
        description="Store a few values with different lifetimes and watch them expire, on "
        "the server in $REDIS_URL if set, else on an embedded fakeredis.",
    )
    run.add_argument(
        "--scale", type=_scale, default=1.0, help="multiply every duration (default 1.0)"
    )

    names = commands.add_parser(
        "names", parents=[server], help="list the names under a prefix", description="List "
        "every name that has a key under PREFIX (SCAN; every primary of a cluster).",
    )  # fmt: skip
    names.add_argument("prefix", metavar="PREFIX")

    get = commands.add_parser(
        "get", parents=[server], help="show a name's live values and their time left",
        description="Show the live values under NAME with their time left, soonest first "
        "(values decoded with the client's encoding: UTF-8, or the URL's ?encoding=; "
        "undecodable bytes escaped).",
    )  # fmt: skip
    get.add_argument("prefix", metavar="PREFIX")
    get.add_argument("name", metavar="NAME")

    stats = commands.add_parser(
        "stats", parents=[server], help="count what a prefix holds (never writes)",
        description="Count names, live and expired values, keys without TTL, keys of "
        "other types and memory under PREFIX. Never writes.",
    )  # fmt: skip
    stats.add_argument("prefix", metavar="PREFIX")

    sweep = commands.add_parser(
        "sweep", parents=[server], help="repair a prefix: expired values, missing TTLs",
        description="Collect expired values, give keys without a TTL (or with one too "
        "short, as 0.1.0 leaves them) a TTL ending with their newest value, delete keys "
        "holding only expired values. Keys of other types, and sorted sets with scores "
        "that are not expiry times, are left untouched.",
        epilog="WARNING: a sorted set scored in past UNIX seconds (a \"last seen\" set: "
        "user -> time of last visit) looks exactly like a multimap that leaked and would "
        "be DELETED. Look first with --dry-run --list, and protect such keys with "
        "--exclude (or keep them under another prefix).",
    )  # fmt: skip
    sweep.add_argument("prefix", metavar="PREFIX")
    sweep.add_argument("--dry-run", action="store_true", help="only report what a sweep would do")
    sweep.add_argument(
        "--list", action="store_true",
        help="with --dry-run: print every key the sweep would change, one per line as "
        "ACTION<tab>KEY (collected, ttl_fixed, deleted, ttl_trimmed; a key may come "
        "twice), instead of the report; with --json, one JSON object a line",
    )  # fmt: skip
    sweep.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB",
        help="leave keys matching GLOB alone, not even read (a Redis glob on the full key, "
        "e.g. 'app:lastseen' or 'app:cache:*'; repeatable)",
    )  # fmt: skip
    return parser


def _one_line(error: BaseException, url: str | None = None) -> str:
    text = scrub(" ".join(str(error).split()) or type(error).__name__, url)
    if type(error).__name__ in ("MovedError", "AskError"):
        # redis-py strips the MOVED code, leaving "slot host:port".
        text = f"the server is a cluster node (MOVED {text}); add --cluster"
    elif text.startswith(("MOVED ", "ASK ")):  # older redis-py: a plain ResponseError
        text = f"the server is a cluster node ({text}); add --cluster"
    return f"{PROG}: error: {text}"


def _reader_gone(stream: TextIO) -> int:
    """Python's recipe for a closed stdout: no message, and nothing left to flush at exit."""
    if stream is sys.stdout:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
            pass
    return EXIT_PIPE


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status (usage errors exit 2 via argparse)."""
    stream = sys.stdout if out is None else out
    output = Output(stream)
    parser = build_parser()
    args = parser.parse_args(argv)
    url: str | None = getattr(args, "url", None) or os.environ.get("REDIS_URL")

    def usage_error(message: str) -> NoReturn:
        parser.error(scrub(message, url))

    if getattr(args, "list", False) and not args.dry_run:
        # A listing is a preview: "sweep --list" must not sweep while it lists.
        usage_error("sweep: --list needs --dry-run (it lists what a sweep would change)")

    try:
        if args.command == "demo":
            client, where = _demo_client()
            demo(client, where, scale=args.scale, out=lambda line: output.write(line + "\n"))
            output.flush()
            return 0
        try:
            client = _client_for(args.url, cluster=args.cluster)
        except ValueError as error:
            usage_error(f"--url {hide_password(args.url)}: {error}")
        try:
            mm = MultiMapWithTTL(client, args.prefix, cast_fn=bytes)
            _COMMANDS[args.command](mm, args, output)
            output.flush()
        except (TypeError, ValueError) as error:  # a prefix, name or pattern Redis cannot hold
            usage_error(str(error))
        finally:
            client.close()
        return 0
    except ReaderGone:
        return _reader_gone(stream)
    except (RedisError, RedisClusterException, OSError, CommandError) as error:
        print(_one_line(error, url), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
