"""Names, values and the prefix are encoded as the client encodes them (issue 24).

redis-py encodes every str with the client's ``encoding`` and
``encoding_errors`` (UTF-8, strict by default); 0.1.0 wrote through it, so a
latin-1 client's key for "café" is ``b"enc:caf\\xe9"``. The library encodes
by itself, up front, and must pick the same bytes: what a latin-1 client
reads back is what it wrote, and 0.1.0 and this library share one key.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from multimapwithttl import MultiMapWithTTL, SweepReport

from .conftest import Backend, Factory
from .old010 import Old010

LATIN1 = {"encoding": "latin-1"}


def redis_py_packs_its_encoding() -> bool:
    """Whether a latin-1 redis-py client sends a str in latin-1.

    redis-py 5.0 with hiredis installed packs every str as UTF-8 whatever the
    client's ``encoding`` (hiredis's packer, given the str; later releases
    encode it first): such a client writes UTF-8 and reads latin-1. The
    library follows the client's settings, which that client itself does not.
    """
    packed = redis.connection.Connection(encoding="latin-1").pack_command("ECHO", "é")
    return b"\xe9" in b"".join(bytes(part) for part in packed)


#: The tests that have a latin-1 client write as 0.1.0 did need a client that does.
CLIENT_ENCODES = redis_py_packs_its_encoding()


@pytest.fixture
def latin1(backend: Backend) -> Any:
    """A sync latin-1 client of the backend's library (the way 0.1.0 would have been given one)."""
    if backend.library == "redis" and not CLIENT_ENCODES:
        pytest.skip("this redis-py packs str as UTF-8 whatever its encoding (5.0 with hiredis)")
    client = backend.sync_client(**LATIN1)
    yield client
    client.close()


@pytest.mark.parametrize("clock", ["client", "server"])
@pytest.mark.parametrize("decode", [True, False])
def test_a_latin1_client_reads_back_what_it_wrote(make: Factory, decode: bool, clock: str) -> None:
    # On the server's clock reads are read-only script calls (EVALSHA_RO): on a
    # valkey-py cluster the library routes those itself (see ClientKind.routes_read_scripts).
    mm = make("enc", ttl=100, cast_fn=str, clock=clock, decode_responses=decode, **LATIN1)
    assert mm.add("café", "ü", "plain") == 2
    assert sorted(mm.get("café")) == ["plain", "ü"]
    assert mm.contains("café", "ü")
    assert mm.count("café") == 2
    assert sorted(v for v, _ in mm.get_with_expiry("café")) == ["plain", "ü"]
    assert sorted(mm.iter_values("café")) == ["plain", "ü"]
    mm.add_many([("über", ["ä"])])
    mm.add_many_with_ttl([("größe", [(time.time() + 50, "ß")])])
    assert [sorted(v) for v in mm.get_many("café", "über", "größe")] == [
        ["plain", "ü"],
        ["ä"],
        ["ß"],
    ]
    assert [[v for v, _ in vs] for vs in mm.get_many_with_expiry("über")] == [["ä"]]
    assert sorted(mm.names()) == ["café", "größe", "über"]
    assert mm.remove("café", "ü") == 1
    assert list(mm.get("café")) == ["plain"]
    assert mm.delete("über") == 1
    assert sorted(mm.names()) == ["café", "größe"]


def test_the_bytes_stored_are_the_clients_own(make: Factory) -> None:
    mm = make("enc", ttl=100, cast_fn=bytes, **LATIN1)
    mm.add("café", "ü")
    assert make.backend.all_keys() == [b"enc:caf\xe9"]  # type: ignore[attr-defined]
    assert list(mm.get("café")) == [b"\xfc"]
    # A latin-1 prefix is part of the key, encoded the same way.
    mm = make("préfixe", ttl=100, decode_responses=True, **LATIN1)
    mm.add("n", 1)
    assert b"pr\xe9fixe:n" in make.backend.all_keys()  # type: ignore[attr-defined]
    assert list(mm.names()) == ["n"]
    assert mm.stats().names == 1
    assert mm.sweep(exclude="préfixe:n").excluded == 1


def _a_name_0_1_0_can_write(client: Any, backend: Backend) -> str:
    """ "café", or on a cluster a latin-1 name whose key 0.1.0 can write there at all.

    A cluster client's pipeline (redis-py 8.2, valkey-py 6.2) finds a key's
    slot by its UTF-8 bytes whatever the client's encoding, while its
    connections send the latin-1 bytes: a key whose two slots live on
    different nodes is MOVED back and forth until the pipeline gives up
    ("TTL exhausted"), so 0.1.0 never wrote such a name.
    """
    for name in ("café", "thé", "crème", "naïve", "größe", "señor", "über", "déjà"):
        key = f"enc:{name}"
        if not backend.cluster or client.get_node_from_key(
            key.encode("latin-1")
        ) == client.get_node_from_key(key.encode("utf-8")):
            return name
    raise AssertionError("no name 0.1.0 can write on this cluster")


def test_0_1_0_and_this_release_share_one_key_for_a_latin1_name(make: Factory, latin1: Any) -> None:
    name = _a_name_0_1_0_can_write(latin1, make.backend)  # type: ignore[attr-defined]
    old = Old010(latin1, "enc", ttl=100)
    old.add_many([(name, [1])])
    mm = make("enc", ttl=100, **LATIN1)
    assert mm.add(name, 2) == 1
    old.add_many([(name, [3])])
    key = f"enc:{name}".encode("latin-1")
    assert make.backend.all_keys() == [key]  # type: ignore[attr-defined]
    assert sorted(mm.get(name)) == [1, 2, 3]
    assert old.get_many(name) == [[1, 2, 3]]
    assert list(mm.names()) == [name]


def test_a_str_value_of_a_latin1_client_is_stored_as_0_1_0_stored_it(
    make: Factory, latin1: Any
) -> None:
    # 0.1.0 handed str values to redis-py, which encodes them with the client's encoding,
    # decode_responses or not.
    latin1.zadd("old:café", {"ü": time.time() + 100})
    mm = make("enc", ttl=100, cast_fn=str, **LATIN1)
    mm.add("café", "ü")
    assert latin1.zrange("enc:café", 0, -1) == latin1.zrange("old:café", 0, -1) == [b"\xfc"]


def test_a_value_the_client_cannot_encode_raises_before_anything_is_written(
    make: Factory,
) -> None:
    mm = make("enc", ttl=100, cast_fn=str, **LATIN1)
    with pytest.raises(ValueError, match=r"value '€' cannot be encoded as latin-1"):
        mm.add_many([("a", ["x"]), ("b", ["y", "€"])])
    with pytest.raises(ValueError, match=r"name '€uro' cannot be encoded as latin-1"):
        mm.add_many([("a", ["x"]), ("€uro", ["y"])])
    with pytest.raises(ValueError, match="cannot be encoded as latin-1"):
        mm.add_many_with_ttl([("a", [(time.time() + 50, "x")]), ("b", [(time.time() + 50, "€")])])
    assert make.backend.all_keys() == []  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="cannot be encoded as latin-1"):
        mm.contains("a", "€")
    with pytest.raises(ValueError, match=r"key_prefix '€' cannot be encoded as latin-1"):
        make("€", **LATIN1)
    with pytest.raises(ValueError, match=r"exclude pattern 'enc:€\*' cannot be encoded"):
        mm.sweep(exclude="enc:€*")


def test_the_clients_encoding_errors_handler_is_followed(make: Factory, latin1: Any) -> None:
    mm = make("enc", ttl=100, cast_fn=str, encoding_errors="replace", **LATIN1)
    mm.add("€", "€ü")
    # As redis-py stores it through the same client.
    assert make.backend.all_keys() == [b"enc:?"]  # type: ignore[attr-defined]
    assert latin1.zrange("enc:?", 0, -1) == [b"?\xfc"]
    assert list(mm.get("€")) == ["?ü"]


def test_cast_fn_str_decodes_with_the_clients_encoding(make: Factory, latin1: Any) -> None:
    latin1.zadd("enc:n", {"é": time.time() + 100})
    assert list(make("enc", cast_fn=str, **LATIN1).get("n")) == ["é"]
    # The default client encoding is UTF-8: b"\xe9" alone is no UTF-8.
    with pytest.raises(UnicodeDecodeError):
        list(make("enc", cast_fn=str).get("n"))


@pytest.mark.parametrize("decode", [True, False])
def test_maintenance_of_a_latin1_prefix(make: Factory, latin1: Any, decode: bool) -> None:
    # As 0.1.0's first write leaves them: no TTL. The sweep must find the right keys.
    now = int(time.time())
    latin1.zadd("mnt:café", {"1": now + 100})
    latin1.zadd("mnt:thé", {"2": now + 100, "3": now - 10})
    mm = make("mnt", decode_responses=decode, **LATIN1)
    stats = mm.stats()
    assert (stats.names, stats.live_values, stats.expired_values, stats.keys_without_ttl) == (
        2,
        2,
        1,
        2,
    )
    report = mm.sweep(exclude="mnt:caf\u00e9")
    assert report == SweepReport(
        scanned=1, collected=1, ttl_fixed=1, deleted=0, foreign=0, excluded=1
    )
    assert report.examples["collected"] == ("mnt:thé",)
    assert latin1.pttl("mnt:thé") > 0
    assert latin1.pttl("mnt:café") == -1  # excluded: untouched
    assert sorted(mm.names()) == ["café", "thé"]


def test_names_escape_what_the_clients_encoding_cannot_decode(make: Factory, raw: Any) -> None:
    raw.zadd(b"bad:\xff", {b"1": time.time() + 100})
    assert list(make("bad").names()) == ["\\xff"]


def test_a_swapped_client_brings_its_own_encoding(backend: Backend) -> None:
    utf8, latin = backend.sync_client(), backend.sync_client(**LATIN1)
    try:
        mm = MultiMapWithTTL(utf8, "swap", cast_fn=bytes)
        mm.add("é", "é")
        mm.redis = latin
        mm.add("é", "é")
        assert sorted(backend.all_keys()) == [b"swap:\xc3\xa9", b"swap:\xe9"]
        assert list(mm.get("é")) == [b"\xe9"]
    finally:
        utf8.close()
        latin.close()
