"""The server-side Lua scripts, loaded once from the package's ``_scripts`` folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Script:
    """A Lua script: its source and the SHA1 digest Redis knows it by."""

    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> Script:
        """Read ``_scripts/<name>.lua`` from the installed package."""
        path = resources.files(__package__).joinpath("_scripts").joinpath(f"{name}.lua")
        source = path.read_text("utf-8")
        return cls(name, source, hashlib.sha1(source.encode("utf-8")).hexdigest())


#: Adds/removes members, collects expired ones and stretches key TTLs (EVALSHA).
WRITE = Script.load("write")
#: Reads the live members of many keys at once (EVALSHA_RO, ``no-writes``).
READ = Script.load("read")
