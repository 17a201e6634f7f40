"""The server-side Lua scripts, loaded once from the package's ``_scripts`` folder.

Every script the package sends is defined here, maintenance's too, and
listed in ``SCRIPTS``: what must know them all (permission errors that
name a script's line, the variants for servers that cannot read a
``#!lua`` line) looks there.

Scripts that write start with the shared helpers of ``_lib.lua`` (the key
lifetime rule, the server clock), pasted in at load time so that rule is
written once for every script that needs it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

_FUNCTION = re.compile(r"^local function (\w+)\(", re.M)


def _read(name: str) -> str:
    path = resources.files(__package__).joinpath("_scripts").joinpath(f"{name}.lua")
    return path.read_text("utf-8")


def _lib_for(body: str) -> str:
    """The helpers of ``_lib.lua`` that ``body`` calls, with those they call.

    Each helper is a closure the server builds anew on every call of the
    script, so a script carries only the ones it uses.
    """
    lib = _read("_lib")
    starts = [m.start() for m in _FUNCTION.finditer(lib)]
    # Each helper with the comment lines just above it.
    cuts = [lib.rfind("\n\n", 0, start) + 1 for start in starts]
    head = lib[: cuts[0]] if cuts else lib
    parts = {
        _FUNCTION.search(lib, start)[1]: lib[cut:end]  # type: ignore[index]
        for start, cut, end in zip(starts, cuts, [*cuts[1:], len(lib)], strict=True)
    }
    wanted: set[str] = set()
    text = body
    while True:
        found = {name for name in parts if re.search(rf"\b{name}\(", text)} - wanted
        if not found:
            break
        wanted |= found
        text = "".join(parts[name] for name in found)
    return head + "".join(part for name, part in parts.items() if name in wanted)


@dataclass(frozen=True)
class Script:
    """A Lua script: its source and the SHA1 digest Redis knows it by."""

    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str, *, lib: bool = False) -> Script:
        """Read ``_scripts/<name>.lua`` from the installed package.

        With ``lib``, the helpers of ``_lib.lua`` the script uses come first
        (after the ``#!lua`` line, which must stay the script's first line).
        """
        source = _read(name)
        if lib:
            shebang, newline, body = source.partition("\n")
            if not shebang.startswith("#!"):
                shebang, newline, body = "", "", source
            source = shebang + newline + _lib_for(body) + "\n" + body
        return cls._of(name, source)

    @classmethod
    def _of(cls, name: str, source: str) -> Script:
        return cls(name, source, hashlib.sha1(source.encode("utf-8")).hexdigest())

    def without_shebang(self) -> Script:
        """The same script without its ``#!lua`` line, for servers that cannot read it.

        fakeredis and Redis < 7 compile the whole text as Lua, where the line
        is a syntax error; the core sends these there (see ``MultiMapCore``).
        """
        if not self.source.startswith("#!"):
            return self
        return self._of(f"{self.name}-plain", self.source.partition("\n")[2])

    def with_shebang(self, name: str, line: str) -> Script:
        """The same script under another ``#!lua`` line (other flags), named ``name``."""
        return self._of(name, line + "\n" + self.source.partition("\n")[2])


#: At most this many expired members one write-script call collects (over all
#: its keys), plus one per argument of the call: removing a member takes the
#: server about a microsecond, so a call's collecting stays within a few
#: milliseconds however many expired members a name holds, and a call always
#: collects more than it writes (steady writing never falls behind). The
#: rest go on later writes or a sweep.
COLLECT_PER_CALL = 1000

#: Adds/removes members, collects expired ones and sets key TTLs (EVALSHA).
#: Its ``#!lua`` line has no flags: over ``maxmemory`` the server refuses it
#: before it runs (``deny-oom``), with the server's own OOM error.
WRITE = Script.load("write", lib=True)
if f"local BUDGET = {COLLECT_PER_CALL}\n" not in WRITE.source:  # pragma: no cover
    raise RuntimeError("write.lua's BUDGET differs from COLLECT_PER_CALL")
#: ``WRITE`` for removals: ``allow-oom``, since removing only frees memory
#: (0.1.0's ZREM worked on a full server too).
REMOVE = WRITE.with_shebang("remove", "#!lua flags=allow-oom")
#: ``WRITE`` and ``REMOVE`` (one text) for servers that cannot read ``#!lua``.
WRITE_PLAIN = WRITE.without_shebang()
#: Reads on the server's clock (EVALSHA_RO, ``no-writes``).
READ = Script.load("read", lib=True)
#: ``READ`` for servers without EVALSHA_RO (fakeredis), sent with EVALSHA.
READ_PLAIN = READ.without_shebang()
#: Deletes sorted sets only, never a key of another type (UNLINK; ``allow-oom``).
DELETE = Script.load("delete", lib=True)
#: ``DELETE`` for servers that cannot read ``#!lua``.
DELETE_PLAIN = DELETE.without_shebang()
#: One page of ``iter_values`` on the server's clock, on a cluster (EVALSHA_RO, ``no-writes``).
PAGE = Script.load("page", lib=True)
#: ``PAGE`` for servers without EVALSHA_RO (fakeredis), sent with EVALSHA.
PAGE_PLAIN = PAGE.without_shebang()
#: Surveys (read-only, EVALSHA_RO) and sweeps a batch of keys for ``stats()`` and
#: ``sweep()``; see ``sweep.lua``. No ``#!lua`` line: every server reads it as is.
SWEEP = Script.load("sweep", lib=True)
#: The reads before a write of big members that goes without a script
#: (WATCH, this, then MULTI/ZADD/PEXPIRE/EXEC; read-only, no ``#!lua`` line): see ``check.lua``.
CHECK = Script.load("check")

#: Every script this package sends, each variant once.
SCRIPTS: tuple[Script, ...] = (
    WRITE,
    REMOVE,
    WRITE_PLAIN,
    READ,
    READ_PLAIN,
    DELETE,
    DELETE_PLAIN,
    PAGE,
    PAGE_PLAIN,
    SWEEP,
    CHECK,
)
#: ``SCRIPTS`` by the SHA1 a server knows each by (and names in its errors).
BY_SHA: dict[str, Script] = {script.sha: script for script in SCRIPTS}
# Looked up, not made, so that a script whose variant is missing from
# ``SCRIPTS`` fails at import instead of on the first old server.
_PLAIN: dict[Script, Script] = {script: BY_SHA[script.without_shebang().sha] for script in SCRIPTS}


def plain(script: Script) -> Script:
    """The variant of ``script`` without its ``#!lua`` line (itself if it has none)."""
    return _PLAIN[script]
