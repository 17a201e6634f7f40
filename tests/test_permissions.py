"""Permissions: the ACL rules of docs/permissions.md are exact, and a refusal says what is missing.

One table (``COMMANDS``, ``KEYS``, ``CLUSTER_COMMANDS``) is both what these
tests grant and what the page shows (checked below); another (``METHODS``)
gives every public method of the two classes to the roles that run it, as
the page's role table does, and a method added to the classes but not to
``METHODS`` fails a test. With its rules, each role's every method works on
both clocks, sync and async, standalone and on a cluster, and the server
logs no refusal at all (ACL LOG), so nothing is refused and swallowed
either. Without any one of its commands, some
operation fails with an error that names the command (or says that a
permission is missing and points to the page); a writer's failed operation
leaves the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.exceptions
import valkey.exceptions
from redis.cluster import RedisCluster

from multimapwithttl import AsyncMultiMapWithTTL, DurabilityError, MultiMapWithTTL
from multimapwithttl._cli import main as cli_main
from multimapwithttl._permissions import DOCS, describe, explain, script_command
from multimapwithttl._scripts import DELETE, READ, SWEEP, WRITE

from .conftest import Blocking, ClientLibrary
from .servers import LocalCluster, RedisServer

PAGE = Path(__file__).resolve().parent.parent / "docs" / "permissions.md"

WRITER, READER, OPERATOR = "writer", "reader", "operator"
ROLES = (WRITER, READER, OPERATOR)

#: Every command a role needs, with the roles that need it: the table of
#: docs/permissions.md, row for row, in its order (and the order of its
#: ACL SETUSER lines). Commands the scripts run count: a script runs with
#: its caller's permissions.
COMMANDS: dict[str, tuple[str, ...]] = {
    "evalsha": (WRITER, OPERATOR),
    "evalsha_ro": (WRITER, READER, OPERATOR),
    "script|load": (WRITER, READER, OPERATOR),
    "time": (WRITER, READER, OPERATOR),
    "zrangebyscore": (WRITER, READER, OPERATOR),
    "zscore": (WRITER, READER),
    "zcount": (WRITER, READER, OPERATOR),
    "scan": (WRITER, READER, OPERATOR),
    "zscan": (WRITER, READER),
    "zadd": (WRITER,),
    "zremrangebyscore": (WRITER, OPERATOR),
    "zmscore": (WRITER,),
    "zrem": (WRITER,),
    "zrange": (WRITER, READER, OPERATOR),
    "zrevrank": (WRITER, READER),
    "pexpire": (WRITER, OPERATOR),
    "type": (WRITER, OPERATOR),
    "unlink": (WRITER,),
    "zcard": (OPERATOR,),
    "pttl": (OPERATOR,),
    "zremrangebyrank": (WRITER, OPERATOR),
    "memory|usage": (OPERATOR,),
    "cluster|info": (OPERATOR,),
}
#: Each role's key pattern, for the prefix "app" (the page's example). A
#: reader's keys are read-only (``%R~``).
KEYS = {WRITER: "~app:*", READER: "%R~app:*", OPERATOR: "~app:*"}
#: What a cluster client needs on top, on every node, whatever the role:
#: the slot map, and the command table redis-py reads on connecting.
CLUSTER_COMMANDS = ("cluster|slots", "command")
#: Granted where the server has it (Redis 7.2+, Valkey): redis-py sends
#: CLIENT SETINFO on connecting and ignores a refusal, but the server logs it.
WHERE_KNOWN = ("client|setinfo",)
#: What a writer needs on top when a setting asks for it: WAIT after each write
#: (``wait_replicas``), WAITAOF with ``wait_aof``; the page grants them apart.
DURABILITY = {"wait_replicas": "wait", "wait_aof": "waitaof"}
#: Not needed for an operation to work: without it, stats() reports no memory.
OPTIONAL = ("memory|usage",)

#: Every public method of MultiMapWithTTL and AsyncMultiMapWithTTL, with the
#: roles that run it: the page's role table (checked below). Each role's test
#: runs every one of its methods (``operations``).
METHODS: dict[str, tuple[str, ...]] = {
    "add": (WRITER,),
    "add_many": (WRITER,),
    "add_many_with_ttl": (WRITER,),
    "touch": (WRITER,),
    "add_new": (WRITER,),
    "remove": (WRITER,),
    "delete": (WRITER,),
    "get": (WRITER, READER),
    "get_many": (WRITER, READER),
    "contains": (WRITER, READER),
    "count": (WRITER, READER),
    "get_with_expiry": (WRITER, READER, OPERATOR),
    "get_many_with_expiry": (WRITER, READER),
    "iter_values": (WRITER, READER),
    "names": (WRITER, READER, OPERATOR),
    "stats": (OPERATOR,),
    "sweep": (OPERATOR,),
}
#: Public attributes that send no command of their own, so need no rule: the
#: settings, and ``from_url``, which builds the client (connecting needs only
#: what the page says a client needs, tested with every role).
NO_COMMANDS = frozenset(
    {"clock", "max_values", "resolution", "from_url", *DURABILITY, "wait_timeout"}
)
#: Closing sends nothing either (it closes the client from_url made): close on the
#: blocking class, aclose on the asyncio one.
CLOSING = {MultiMapWithTTL: "close", AsyncMultiMapWithTTL: "aclose"}

PASSWORD = "perm-test-password"


def _cluster_client_reads_info() -> bool:
    """Whether an installed cluster client checks INFO's cluster_enabled on connecting.

    redis-py 5.0 and valkey-py 6.1 do (their floors here); later releases ask
    CLUSTER SLOTS only. Found from the client's own code, not a version table.
    """
    for module in ("redis.cluster", "valkey.cluster"):
        try:
            manager = importlib.import_module(module).NodesManager
        except (ImportError, AttributeError):
            continue
        source = inspect.getsource(manager.initialize)
        if ".info()" in source or '"INFO"' in source:
            return True
    return False


def public_names(cls: type) -> set[str]:
    """The public attributes of a class: its methods, properties and class methods."""
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def methods_of(role: str) -> set[str]:
    return {method for method, roles in METHODS.items() if role in roles}


def commands_of(role: str) -> list[str]:
    return [command for command, roles in COMMANDS.items() if role in roles]


def rules(role: str, prefix: str = "app", *, cluster: bool = False) -> list[str]:
    """The role's ACL rules after the user name and password, as the page gives them."""
    keys = KEYS[role].replace("app", prefix)
    extra = list(CLUSTER_COMMANDS) if cluster else []
    grants = [f"+{command}" for command in [*commands_of(role), *extra]]
    return ["resetkeys", keys, "resetchannels", "-@all", *grants]


# -- the page shows the table ------------------------------------------------------


def _page_blocks() -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)


def test_the_page_gives_the_tables_rules() -> None:
    lines = [
        line.split()
        for block in _page_blocks()
        for line in block.splitlines()
        if line.startswith("ACL SETUSER")
    ]
    users = {f"app-{role}": role for role in ROLES}
    full = {users[words[2]]: words[3:] for words in lines if "resetkeys" in words}
    for role in ROLES:
        # "on >PASSWORD" and then exactly the rules.
        assert full[role][0] == "on"
        assert full[role][1].startswith(">")
        assert full[role][2:] == rules(role), role
    extra = [(users[words[2]], words[3:]) for words in lines if "resetkeys" not in words]
    # On a cluster, the same users get the cluster commands on top, each node.
    cluster = [f"+{command}" for command in CLUSTER_COMMANDS]
    assert sorted(role for role, grants in extra if grants == cluster) == sorted(ROLES)
    # Where the server has it, CLIENT SETINFO (shown for one user).
    known = [f"+{command}" for command in WHERE_KNOWN]
    # With wait_replicas (wait_aof), the writer's WAIT (WAITAOF), each a line of its own.
    waits = [(WRITER, [f"+{command}"]) for command in DURABILITY.values()]
    assert all(pair in waits for pair in extra if pair[1] not in (cluster, known))
    assert all(pair in extra for pair in waits)
    assert all(grants in (cluster, known) or (role, grants) in waits for role, grants in extra)
    assert any(grants == known for _, grants in extra)


def test_the_pages_table_is_the_table() -> None:
    rows = re.findall(r"^\| `([A-Z_ ]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|", PAGE.read_text(), re.M)
    shown = {
        name.lower().replace(" ", "|"): tuple(
            role for role, cell in zip(ROLES, cells, strict=True) if cell.strip() == "✓"
        )
        for name, *cells in rows
    }
    assert list(shown.items()) == list(COMMANDS.items())


def _page_roles() -> dict[str, set[str]]:
    """The page's role table: each role's methods (``every reader method`` spelt out)."""
    rows = re.findall(r"^\| \*\*([a-z]+)\*\* +\|([^|]*)\|", PAGE.read_text(), re.M)
    shown = {role: set(re.findall(r"`([a-z_]+)`", cell)) for role, cell in rows}
    for role, cell in rows:
        if "every reader method" in cell:
            shown[role] |= shown[READER]
    return shown


@pytest.mark.parametrize("cls", [MultiMapWithTTL, AsyncMultiMapWithTTL])
def test_every_public_method_is_given_to_a_role(cls: type) -> None:
    # A method added to the classes must be added to METHODS (and so to the
    # page, and to what each role runs below): none is left out untested.
    left_out = public_names(cls) - set(METHODS) - NO_COMMANDS - {CLOSING[cls]}
    assert not left_out, f"give these methods to the roles that run them (METHODS): {left_out}"
    assert set(METHODS) | NO_COMMANDS | {CLOSING[cls]} <= public_names(cls)


def test_the_pages_role_table_is_the_methods_table() -> None:
    assert _page_roles() == {role: methods_of(role) for role in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_runs_every_one_of_its_methods(role: str) -> None:
    # What the role tests below run (the multimap is not called here).
    ran = {label.removeprefix("capped ").split()[0] for label, _ in operations(role, object())}
    assert ran == methods_of(role)


# -- explain(): the server's refusal in words (no server needed) --------------------


def _line_of(source: str, text: str) -> int:
    return next(n for n, line in enumerate(source.splitlines(), 1) if text in line)


def test_redis_70_refusal_in_a_script_is_named_from_the_scripts_line() -> None:
    # Redis 7.0 says neither the command nor the key; the script and its line tell.
    line = _line_of(WRITE.source, "redis.call('PEXPIRE'")
    said = (
        "The user executing the script can't run this command or subcommand "
        f"script: {WRITE.sha}, on @user_script:{line}."
    )
    better = explain(redis.exceptions.ResponseError(said))
    assert type(better) is redis.exceptions.ResponseError
    text = str(better)
    assert "PEXPIRE" in text
    assert "+pexpire" in text
    assert DOCS in text
    assert said in text  # the server's own words are kept


@pytest.mark.parametrize(
    ("script", "text", "command"),
    [
        (DELETE, "redis.call('TYPE'", "type"),
        (READ, "redis.call('ZCOUNT'", "zcount"),
        (SWEEP, "redis.pcall('MEMORY', 'USAGE'", "memory|usage"),
        (SWEEP, "redis.call('PTTL'", "pttl"),
    ],
)
def test_each_scripts_lines_name_their_command(script: Any, text: str, command: str) -> None:
    assert script_command(script.sha, _line_of(script.source, text)) == command


def test_a_line_of_no_known_script_names_nothing() -> None:
    assert script_command("0" * 40, 3) is None
    assert script_command(WRITE.sha, 10**6) is None
    assert script_command(WRITE.sha, 1) is None  # a comment
    said = "The user executing the script can't run this command or subcommand"
    assert "permission is missing" in str(explain(redis.exceptions.ResponseError(said)))


@pytest.mark.parametrize(
    ("said", "rule"),
    [
        # Valkey and Redis 7.2+, in a script: the command is named.
        (
            "ACL failure in script: User w has no permissions to run the 'pexpire' command "
            "script: on @user_script:269.",
            "+pexpire",
        ),
        # Any server, top level (redis-py strips the NOPERM code).
        ("this user has no permissions to run the 'scan' command", "+scan"),
        ("User w has no permissions to run the 'script|load' command", "+script|load"),
        # This package's scripts, checking before they write (redis.acl_check_cmd).
        (
            'NOPERM this user may not run TIME, which multimapwithttl needs (see "Permissions" '
            "in the docs); nothing was written",
            "+time",
        ),
        (
            "this user may not run TYPE, UNLINK on key app:a, which multimapwithttl needs",
            "+type +unlink",
        ),
        ("this user may not run MEMORY USAGE on key app:a", "+memory|usage"),
    ],
)
def test_a_named_refusal_gets_its_rule_and_the_page(said: str, rule: str) -> None:
    for error_class in (redis.exceptions.NoPermissionError, valkey.exceptions.NoPermissionError):
        better = explain(error_class(said))
        assert type(better) is error_class
        assert rule in str(better)
        assert DOCS in str(better)


@pytest.mark.parametrize(
    "said",
    [
        "this user has no permissions to access one of the keys used as arguments",
        "No permissions to access a key",
        "The user executing the script can't access at least one of the keys mentioned in the "
        "command script: 0123, on @user_script:4.",
    ],
)
def test_a_refused_key_points_to_the_key_pattern(said: str) -> None:
    text = str(explain(redis.exceptions.NoPermissionError(said)))
    assert "~PREFIX:*" in text
    assert DOCS in text


def test_other_errors_are_left_as_they_are() -> None:
    error = redis.exceptions.ResponseError("WRONGTYPE Operation against a key")
    assert explain(error) is error
    done = explain(redis.exceptions.NoPermissionError("this user has no permissions to run"))
    assert explain(done) is done  # explained once only
    assert describe("NOPERM something new") is not None

    class Picky(Exception):
        def __init__(self, code: int, text: str) -> None:
            super().__init__(text)

    odd = Picky(1, "No permissions to access a key")
    assert explain(odd) is odd  # a class built otherwise is not rebuilt


# -- the roles on a real server ------------------------------------------------------

PREFIX = "app"


def snapshot(nodes: list[redis.Redis]) -> dict[bytes, tuple[Any, Any]]:
    """Every key's serialized value and absolute expiry: any change shows."""
    state: dict[bytes, tuple[Any, Any]] = {}
    for node in nodes:
        for key in node.scan_iter(count=1000):
            state[key] = (node.dump(key), node.pexpiretime(key))
    return state


def seed(site: Site) -> None:
    """Names a and b, each with live values and one expired value not collected yet;
    and what a sweep repairs: a key without TTL, one of only expired values, one with
    more expired values than a sweep call removes; and a string (not a multimap)."""
    now = int(time.time())
    for node in site.nodes:
        node.flushall()
        node.script_flush()  # so that SCRIPT LOAD is needed, and tried
    admin = site.admin
    admin.zadd(f"{PREFIX}:a", {"1": now + 3600, "2": now + 3600, "9": now - 100})
    admin.zadd(f"{PREFIX}:b", {"3": now + 3600, "8": now - 100})
    admin.expire(f"{PREFIX}:a", 3600)
    admin.expire(f"{PREFIX}:b", 3600)
    admin.zadd(f"{PREFIX}:leak", {"4": now + 600})
    admin.zadd(f"{PREFIX}:dead", {"5": now - 100})
    admin.zadd(f"{PREFIX}:big", {**{str(i): now - 200 for i in range(10, 2600)}, "6": now + 600})
    admin.set(f"{PREFIX}:config", "v")


Op = tuple[str, Callable[[], Any]]


def capped(m: Any) -> Any:
    """The same multimap (client, prefix, clock) with ``max_values``: reads take other paths."""
    if isinstance(m, Blocking):
        inner = m._inner
        twin = AsyncMultiMapWithTTL(inner.redis, PREFIX, clock=inner.clock, max_values=5)
        return Blocking(twin, m._loop)
    return MultiMapWithTTL(m.redis, PREFIX, clock=m.clock, max_values=5)


def reads(m: Any) -> list[Op]:
    def c() -> Any:  # a cap above what the names hold: the same answers
        return capped(m)

    return [
        # The sync class answers iterators.
        ("get", lambda: list(m.get("a"))),
        ("get_many", lambda: [list(values) for values in m.get_many("a", "b", "none")]),
        ("get_many one", lambda: [list(values) for values in m.get_many("b")]),
        ("contains", lambda: m.contains("a", 1)),
        ("contains expired", lambda: m.contains("a", 9)),
        ("count", lambda: m.count("a")),
        ("get_with_expiry", lambda: m.get_with_expiry("a")),
        (
            "get_many_with_expiry",
            lambda: [[value for value, _ in pairs] for pairs in m.get_many_with_expiry("a", "b")],
        ),
        ("iter_values", lambda: sorted(m.iter_values("a", count=1))),
        # Pages of 100 over 2,590 members, all but one expired.
        ("iter_values big", lambda: list(m.iter_values("big", count=100))),
        ("names", lambda: sorted(m.names())),
        ("capped get", lambda: list(c().get("a"))),
        ("capped get_many", lambda: [list(values) for values in c().get_many("a", "b", "none")]),
        ("capped get_many one", lambda: [list(values) for values in c().get_many("b")]),
        ("capped contains", lambda: c().contains("a", 1)),
        ("capped contains expired", lambda: c().contains("a", 9)),
        ("capped count", lambda: c().count("a")),
        ("capped get_with_expiry", lambda: c().get_with_expiry("a")),
    ]


def writes(m: Any) -> list[Op]:
    now = time.time()
    return [
        ("add", lambda: m.add("a", 1, 7)),
        ("add nx", lambda: m.add("a", 1, 2, nx=True)),
        ("add xx gt", lambda: m.add("a", 1, 2, xx=True, gt=True)),
        ("touch", lambda: m.touch("a", 1, 2, 99)),
        ("add_new", lambda: m.add_new("a", 2, 5, 5)),
        ("add_many", lambda: m.add_many([("b", [3, 4]), ("n", [5])], ttl=60)),
        ("add_many_with_ttl", lambda: m.add_many_with_ttl([("a", [(now + 60, 8), (now - 9, 1)])])),
        ("remove", lambda: m.remove("b", 3)),
        ("delete", lambda: m.delete("a", "b")),
    ]


def run_cli(url: str, cluster: bool, *args: str) -> str:
    """The command line, in this process: its output, or RuntimeError with its message."""
    out, err = io.StringIO(), io.StringIO()
    flags = [*args, "--url", url, *(["--cluster"] if cluster else [])]
    with contextlib.redirect_stderr(err):
        status = cli_main(flags, out=out)
    if status:
        raise RuntimeError(err.getvalue())
    return out.getvalue()


def cli_ops(url: str, cluster: bool) -> list[Op]:
    """The command line's commands (sync only), as the operator runs them."""
    return [
        ("cli names", lambda: run_cli(url, cluster, "names", PREFIX)),
        ("cli get", lambda: run_cli(url, cluster, "get", PREFIX, "a")),
        ("cli stats", lambda: run_cli(url, cluster, "stats", PREFIX)),
        ("cli sweep --dry-run", lambda: run_cli(url, cluster, "sweep", PREFIX, "--dry-run")),
        (
            "cli sweep --dry-run --list",
            lambda: run_cli(url, cluster, "sweep", PREFIX, "--dry-run", "--list"),
        ),
        ("cli sweep", lambda: run_cli(url, cluster, "sweep", PREFIX)),
    ]


def maintenance(m: Any) -> list[Op]:
    return [
        ("names", lambda: sorted(m.names())),
        ("get_with_expiry", lambda: m.get_with_expiry("a")),
        ("stats", lambda: m.stats()),
        ("sweep dry run", lambda: m.sweep(dry_run=True)),
        ("sweep", lambda: m.sweep()),
    ]


def operations(role: str, m: Any) -> list[Op]:
    if role == WRITER:
        return [*reads(m), *writes(m)]
    if role == READER:
        return reads(m)
    return maintenance(m)


class Site:
    """A real server or cluster: admin clients per node, and clients as a role's user."""

    def __init__(self, ports: list[int], cluster: bool) -> None:
        self.ports = ports
        self.cluster = cluster
        self.nodes = [redis.Redis(port=port) for port in ports]
        #: Writes the seed data (as the default user, allowed everything).
        self.admin: Any = (
            RedisCluster(host="127.0.0.1", port=ports[0]) if cluster else self.nodes[0]
        )
        self.users: set[str] = set()
        # Redis 7.0 has no CLIENT SETINFO: it is granted where it exists.
        self.known = [command for command in WHERE_KNOWN if self._has(command)]

    def _has(self, command: str) -> bool:
        node = self.nodes[0]
        try:
            node.execute_command("ACL", "SETUSER", "app-probe", f"+{command}")
        except redis.exceptions.ResponseError:
            return False
        finally:
            node.execute_command("ACL", "DELUSER", "app-probe")
        return True

    def grant(self, role: str, *, without: str | None = None, more: tuple[str, ...] = ()) -> str:
        user = f"app-{role}"
        granted = [
            rule
            for rule in [*rules(role, PREFIX, cluster=self.cluster), *self._known(), *more]
            if rule != f"+{without}"
        ]
        for node in self.nodes:
            node.execute_command("ACL", "SETUSER", user, "reset", "on", f">{PASSWORD}", *granted)
            node.execute_command("ACL", "LOG", "RESET")
        self.users.add(user)
        return user

    def _known(self) -> list[str]:
        known = [f"+{command}" for command in self.known]
        if self.cluster and _cluster_client_reads_info():
            known.append("+info")  # older clients' connect step (the page says so)
        return known

    def refusals(self, user: str) -> list[str]:
        return [
            entry[b"object"].decode()
            for node in self.nodes
            for entry in node.execute_command("ACL", "LOG")
            if entry[b"username"].decode() == user
        ]

    def url(self, user: str) -> str:
        return f"redis://{user}:{PASSWORD}@127.0.0.1:{self.ports[0]}/0"

    def client(self, library: ClientLibrary, user: str, flavor: str, **options: Any) -> Any:
        options.update(username=user, password=PASSWORD)
        cls: Any
        if self.cluster:
            cls = library.cluster if flavor == "sync" else library.async_cluster
            return cls(host="127.0.0.1", port=self.ports[0], **options)
        cls = library.sync if flavor == "sync" else library.asyncio
        return cls(port=self.ports[0], **options)

    def close(self) -> None:
        for node in self.nodes:
            for user in self.users:
                node.execute_command("ACL", "DELUSER", user)
            node.flushall()
            node.close()
        if self.cluster:
            self.admin.close()


@pytest.fixture
def server(real_server: RedisServer) -> Iterator[Site]:
    site = Site([real_server.port], cluster=False)
    yield site
    site.close()


@pytest.fixture
def cluster(real_cluster: LocalCluster) -> Iterator[Site]:
    site = Site(real_cluster.ports, cluster=True)
    yield site
    site.close()


@contextlib.contextmanager
def multimap(
    site: Site,
    library: ClientLibrary,
    user: str,
    flavor: str,
    clock: Any,
    settings: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[Any]:
    client = site.client(library, user, flavor, **options)
    if flavor == "sync":
        try:
            yield MultiMapWithTTL(client, PREFIX, clock=clock, **(settings or {}))
        finally:
            client.close()
        return
    loop = asyncio.new_event_loop()
    try:
        yield Blocking(AsyncMultiMapWithTTL(client, PREFIX, clock=clock, **(settings or {})), loop)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


def expected(role: str, label: str, result: Any) -> None:
    """What each operation answers on the seeded data (or after the writes before it)."""
    answers = {
        "get": [1, 2],
        "get_many": [[1, 2], [3], []],
        "get_many one": [[3]],
        "contains": True,
        "contains expired": False,
        "count": 2,
        "get_many_with_expiry": [[1, 2], [3]],
        "iter_values": [1, 2],
        "iter_values big": [6],
        "add": 1,
        "add nx": 0,
        "add xx gt": 0,
        "touch": 2,
        "add_new": [False, True, False],
        "add_many": 2,
        "remove": 1,
    }
    multimaps = {"a", "b", "big", "dead", "leak"}
    label = label.removeprefix("capped ")  # a cap above what the names hold: same answers
    if label == "get_with_expiry":
        assert [value for value, _ in result] == [1, 2]
    elif label == "stats":
        assert result.memory_bytes is not None  # MEMORY USAGE was allowed
        assert result.keys_without_ttl == 3
    elif label == "sweep":
        assert result.ttl_fixed == 2
        assert result.deleted == 1
    elif label == "names":
        # The string is not a multimap: listed or not (names() may list sorted sets only).
        assert multimaps <= set(result) <= multimaps | {"config"}
    elif label in answers:
        assert result == answers[label], f"{label}: {result!r}"


def works(
    site: Site, library: ClientLibrary, role: str, flavor: str, clock: str, **options: Any
) -> None:
    user = site.grant(role)
    seed(site)
    with multimap(site, library, user, flavor, clock, **options) as m:
        ops = operations(role, m)
        if role == OPERATOR and flavor == "sync":
            ops += cli_ops(site.url(user), site.cluster)
        for label, op in ops:
            try:
                result = op()
            except Exception as error:
                raise AssertionError(f"{role} {label}: {error}") from error
            expected(role, label, result)
    # Nothing was refused on the way, not even where a refusal is tolerated.
    assert site.refusals(user) == []


@pytest.mark.parametrize("clock", ["client", "server"])
@pytest.mark.parametrize("flavor", ["sync", "async"])
@pytest.mark.parametrize("library", ["redis", "redis-resp3", "valkey"])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_can_do_its_work(
    server: Site, role: str, library: str, flavor: str, clock: str
) -> None:
    # RESP3: the client says HELLO 3 with the user's name and password first.
    options = {"protocol": 3} if library.endswith("resp3") else {}
    works(server, ClientLibrary(library.partition("-")[0]), role, flavor, clock, **options)


@pytest.mark.parametrize("clock", ["client", "server"])
@pytest.mark.parametrize("flavor", ["sync", "async"])
@pytest.mark.parametrize("library", ["redis", "valkey"])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_can_do_its_work_on_a_cluster(
    cluster: Site, role: str, library: str, flavor: str, clock: str
) -> None:
    works(cluster, ClientLibrary(library), role, flavor, clock)


@pytest.mark.parametrize("where", ["server", "cluster"])
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_writer_with_wait_replicas_works_with_the_pages_rule(
    request: pytest.FixtureRequest, where: str, flavor: str
) -> None:
    # The suite's servers have no replica: every WAIT answers 0 after its
    # short timeout, so each write raises DurabilityError carrying its result.
    site: Site = request.getfixturevalue(where)
    user = site.grant(WRITER, more=(f"+{DURABILITY['wait_replicas']}",))
    seed(site)
    settings = {"wait_replicas": 1, "wait_timeout": 0.01}
    with multimap(site, ClientLibrary("redis"), user, flavor, "client", settings) as m:
        for label, op in operations(WRITER, m):
            try:
                result = op()
            except DurabilityError as error:
                short = (error.acknowledged, error.required)
                result = error.result
            else:
                short = (0, 1)  # reads: no WAIT
            assert short == (0, 1), label
            expected(WRITER, label, result)
    assert site.refusals(user) == []


def test_a_writer_with_wait_replicas_without_the_rule_writes_nothing(server: Site) -> None:
    user = server.grant(WRITER)
    seed(server)
    before = snapshot(server.nodes)
    settings = {"wait_replicas": 1, "wait_timeout": 0.01}
    with (
        multimap(server, ClientLibrary("redis"), user, "sync", "client", settings) as m,
        pytest.raises(redis.exceptions.NoPermissionError) as refused,
    ):
        m.add("a", 9)
    assert names_the_command(str(refused.value), "wait"), refused.value
    assert snapshot(server.nodes) == before


# -- without any one command --------------------------------------------------------


def _cases() -> list[Any]:
    return [
        pytest.param(role, command, id=f"{role}-{command}")
        for role in ROLES
        for command in commands_of(role)
    ]


def names_the_command(text: str, command: str) -> bool:
    """The error names ``command`` (as the server or as the ACL rule), or says a
    permission is missing and points to the page (where nothing tells which)."""
    spelled = command.upper().replace("|", " ")
    named = f"'{command}'" in text or f"+{command}" in text or f" {spelled}" in text
    return named or ("permission is missing" in text and DOCS in text)


@pytest.mark.parametrize(("role", "command"), _cases())
def test_without_any_one_command_an_operation_says_so(
    server: Site, role: str, command: str
) -> None:
    user = server.grant(role, without=command)
    library = ClientLibrary("redis")
    failures: list[tuple[str, str, bool]] = []
    stats_without_memory = False
    for clock in ("client", "server"):
        with multimap(server, library, user, "sync", clock) as m:
            ops = operations(role, m)
            if role == OPERATOR:
                ops += cli_ops(server.url(user), cluster=False)
            for label, op in ops:
                seed(server)
                before = snapshot(server.nodes)
                try:
                    result = op()
                except Exception as error:
                    changed = snapshot(server.nodes) != before
                    failures.append((f"{clock} {label}", str(error), changed))
                else:
                    if label == "stats" and result.memory_bytes is None:
                        stats_without_memory = True
    if command in OPTIONAL:
        # Not needed to work: stats() says the memory is unknown instead.
        assert stats_without_memory
        return
    assert failures, f"every {role} operation works without +{command}"
    for label, text, _ in failures:
        assert names_the_command(text, command), f"{label}: {text}"
    if role == WRITER:
        # All or nothing: a refused write wrote nothing.
        assert [label for label, _, changed in failures if changed] == []


def test_stats_without_memory_usage_says_it_is_not_allowed(server: Site) -> None:
    user = server.grant(OPERATOR, without="memory|usage")
    seed(server)
    shown = run_cli(server.url(user), False, "stats", PREFIX)
    assert re.search(r"memory +unknown \(no permission for MEMORY USAGE\)", shown), shown


@pytest.mark.parametrize("command", CLUSTER_COMMANDS)
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_cluster_client_needs_the_cluster_commands(
    cluster: Site, command: str, flavor: str
) -> None:
    user = cluster.grant(READER, without=command)

    def read() -> None:
        with multimap(cluster, ClientLibrary("redis"), user, flavor, "client") as m:
            m.get("a")

    with pytest.raises(Exception) as failed:  # noqa: PT011 - redis-py's own, per command
        read()
    if command == "command":
        assert "'command'" in str(failed.value)
    else:
        # redis-py's words when CLUSTER SLOTS is refused (the page says so); older
        # releases pass the server's refusal on instead.
        shown = str(failed.value)
        assert "Cluster mode is not enabled" in shown or "'cluster|slots'" in shown, shown
