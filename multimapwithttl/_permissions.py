"""Permission errors, said plainly: which command (or key) the Redis user may not use.

A Redis ACL user without a command the library needs gets a reply that
does not always say which: Redis 7.0 answers a refused command inside a
script with "The user executing the script can't run this command or
subcommand", naming only the script's SHA1 and line. The scripts are
this package's own, so that line tells the command. ``explain()`` turns
any permission error into one of the same class whose message names what
is missing (or, where nothing tells, says that a permission is missing)
and points to the documented rules of each role. Sans-I/O: text in,
exception out.
"""

from __future__ import annotations

import re

from ._scripts import BY_SHA

#: The page listing the ACL rules of each role (docs/permissions.md).
DOCS = "https://python-multimapwithttl.readthedocs.io/en/latest/permissions/"

# Redis 7.0, a command refused inside a script (redis.call). A refusal that
# came back through redis.pcall carries neither the SHA nor the line.
_SCRIPT_COMMAND = re.compile(
    r"can't run this command or subcommand"
    r"(?:\s+script:\s*(?P<sha>[0-9a-f]{40})?,?\s*on @user_script:(?P<line>\d+))?"
)
# Redis 7.2+ and Valkey, in a script or not: the command is named.
_NAMED = re.compile(r"no permissions to run the '(?P<command>[^']+)' command", re.I)
# This package's scripts, which check before writing (redis.acl_check_cmd):
# "this user may not run TYPE, UNLINK on key ...".
_CHECKED = re.compile(
    r"may not run (?P<commands>[A-Z][A-Z_]*(?: [A-Z][A-Z_]*)?(?:, [A-Z][A-Z_]*(?: [A-Z][A-Z_]*)?)*)"
)
# A key outside the user's key patterns (top level or in a script, any server).
_KEYS = re.compile(
    r"no permissions to access (?:a|one of the) key|can't access at least one of the keys", re.I
)
# Anything else a server says about a refused permission.
_OTHER = re.compile(r"\bNOPERM\b|no permissions?\b|ACL failure", re.I)
# The command a script line runs: redis.call('ZADD', ...) / redis.pcall('MEMORY', 'USAGE', ...).
_CALL = re.compile(r"redis\.p?call\(\s*'(?P<command>[A-Za-z_]+)'(?:\s*,\s*'(?P<sub>[A-Za-z-]+)')?")
# Commands whose permission is granted per subcommand (``+memory|usage``).
_CONTAINERS = frozenset({"memory", "script", "client", "cluster", "config", "object", "command"})


def _script_lines() -> dict[str, list[str]]:
    """Every script of this package by SHA1: its source, line by line."""
    return {sha: script.source.splitlines() for sha, script in BY_SHA.items()}


def script_command(sha: str | None, line: int) -> str | None:
    """The command (``zadd``, ``memory|usage``) that line ``line`` of script ``sha`` runs.

    None when ``sha`` is not one of this package's scripts (or not given and
    the line differs between them), or the line runs no literal command.
    """
    scripts = _script_lines()
    sources = [scripts[sha]] if sha in scripts else [] if sha else list(scripts.values())
    commands = set()
    for source in sources:
        if 0 < line <= len(source):
            match = _CALL.search(source[line - 1])
            if match:
                command = match["command"].lower()
                if command in _CONTAINERS and match["sub"]:
                    command += "|" + match["sub"].lower()
                commands.add(command)
    return commands.pop() if len(commands) == 1 else None


def describe(message: str) -> str | None:
    """What a server's permission error ``message`` means, in words; None if it is no such error.

    The words name the missing command as an ACL rule (``+pexpire``) where
    the server or the script's line tells it, else say a permission is
    missing; either way they point to the rules of each role.
    """
    if DOCS in message:
        return None  # already explained
    commands: list[str] = []
    named = _NAMED.search(message)
    checked = _CHECKED.search(message)
    in_script = _SCRIPT_COMMAND.search(message)
    if named:
        commands = [named["command"].lower()]
    elif checked:
        commands = [name.lower().replace(" ", "|") for name in checked["commands"].split(", ")]
    elif in_script:
        if in_script["line"]:
            command = script_command(in_script["sha"], int(in_script["line"]))
            commands = [command] if command else []
    elif _KEYS.search(message):
        return (
            "no permission for a key under this prefix: the Redis user's key "
            "pattern must cover every key of the prefix (~PREFIX:*)"
        )
    elif not _OTHER.search(message):
        return None
    if not commands:
        return "a permission is missing: the Redis user lacks a command this operation needs"
    shown = ", ".join(command.upper().replace("|", " ") for command in commands)
    rules = " ".join(f"+{command}" for command in commands)
    return f"no permission to run {shown}: the Redis user needs {rules}"


def explain(error: Exception) -> Exception:
    """``error`` with a message that says which permission is missing, if that is what it is.

    A permission error comes back as a new exception of the same class whose
    message names the missing command (``+pexpire``) or key pattern, or says
    that a permission is missing, and points to the documented rules of each
    role; the server's own words follow. Any other error comes back as is.
    """
    original = str(error)
    words = describe(original)
    if words is None:
        return error
    try:
        better = type(error)(
            f"{words} (the rules of each role: {DOCS}); the server said: {original}"
        )
    except Exception:  # a class that wants other arguments: keep the original
        return error
    return better
