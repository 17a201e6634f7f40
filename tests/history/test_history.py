"""The short form of the history checks: ``pytest -m history`` (about 90 s, fixed seed).

One history of a minute under every fault kind must hold no anomaly. Two short
histories against deliberately broken builds must be caught: the checker is
only worth its silence if it speaks when the library is wrong.
"""

from __future__ import annotations

import dataclasses

import pytest

from ..servers import REDIS_SERVER
from .runner import FAULTS, STANDARD, Config, run

pytestmark = [
    pytest.mark.history,
    pytest.mark.skipif(not REDIS_SERVER, reason="needs a redis-server binary"),
]
SEED = 19


def test_a_history_under_faults_has_no_anomaly() -> None:
    # Standalone faults plus a failover to a replica (whose losses are counted, not failed).
    result = run(Config(seconds=55, seed=SEED, faults=[*FAULTS, "failover"], interval=3.0))
    print(result.summary)
    print(result.details)
    assert result.verdict.reads > 1000
    assert result.verdict.anomalies == [], result.details


def _sabotaged(how: str) -> Config:
    """The standard clients, one of which (clock 1 s ahead) runs a broken build."""
    clients = [dataclasses.replace(c, sabotage=how) if c.label == "s1" else c for c in STANDARD]
    assert any(c.sabotage for c in clients)
    return Config(seconds=10, seed=SEED, faults=[], clients=clients)


def test_collection_by_the_client_clock_only_is_caught() -> None:
    # After each write, ZREMRANGEBYSCORE by the writer's own clock (1 s ahead): values
    # still live by the server's clock disappear, as a build that ignored the server's
    # clock when collecting would make them.
    result = run(_sabotaged("client-clock-gc"))
    print(result.summary)
    kinds = {a.kind for a in result.verdict.anomalies}
    assert "missing" in kinds, result.details


def test_a_write_without_its_ttl_step_is_caught() -> None:
    # After each write, PERSIST: the key lives for ever, as a build whose write dropped
    # its TTL step would leave it.
    result = run(_sabotaged("persist"))
    print(result.summary)
    kinds = {a.kind for a in result.verdict.anomalies}
    assert "no-ttl" in kinds, result.details


def test_a_write_rerun_unseen_is_caught() -> None:
    # Each write sent twice, the caller told the second answer: what a client that re-runs
    # a write whose reply was lost does. Its "how many are new" counts then come out wrong.
    result = run(_sabotaged("rerun"))
    print(result.summary)
    kinds = {a.kind for a in result.verdict.anomalies}
    assert kinds & {"new-count", "remove-count"}, result.details
