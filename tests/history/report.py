"""The report: one summary line, and for each anomaly the sub-history that shows it."""

from __future__ import annotations

import json
from typing import Any

from .checker import LAG, Anomaly, Verdict
from .recorder import UNKNOWN, History

#: How far before the anomalous operation the printed sub-history reaches (seconds):
#: the longest life a value can have plus the lag of an unknown outcome.
CONTEXT = 8.0
MOST_LINES = 40
MOST_ANOMALIES = 5


def summary(verdict: Verdict) -> str:
    """``history: N ops, R reads checked, A anomalies, L acknowledged writes lost to <fault>``."""
    parts = [
        f"history: {verdict.ops} ops",
        f"{verdict.reads} reads checked",
        f"{len(verdict.anomalies)} anomalies",
    ]
    kinds = verdict.fault_kinds or ["faults"]
    parts += [
        f"{len(verdict.lost.get(kind, ()))} acknowledged writes lost to {kind}" for kind in kinds
    ]
    return ", ".join(parts)


def counts(verdict: Verdict, errors: list[str]) -> dict[str, Any]:
    """The verdict as numbers (``--json``): anomalies by kind, losses by fault."""
    kinds: dict[str, int] = {}
    for anomaly in verdict.anomalies:
        kinds[anomaly.kind] = kinds.get(anomaly.kind, 0) + 1
    return {
        "ops": verdict.ops,
        "reads": verdict.reads,
        "write_results": verdict.write_results,
        "anomalies": kinds,
        "lost": {kind: len(lost) for kind, lost in verdict.lost.items()},
        "explained_errors": verdict.explained_errors,
        "stalls": verdict.stalls,
        "nemesis_errors": len(errors),
    }


def details(verdict: Verdict, history: History) -> str:
    """A second line of counts, then each anomaly (at most a few) with its sub-history."""
    faults: dict[str, int] = {}
    for fault in history.faults:
        faults[fault["kind"]] = faults.get(fault["kind"], 0) + 1
    lines = [
        f"  {verdict.write_results} write results checked, {verdict.samples} key TTL samples, "
        f"{verdict.unknown} unknown outcomes, {verdict.failed} refused "
        f"({verdict.explained_errors} explained by faults, {verdict.stalls} by a stalled server); "
        "faults: " + (", ".join(f"{k} x{n}" for k, n in sorted(faults.items())) or "none")
    ]
    lost = [op_id for pairs in verdict.lost.values() for op_id, _, _ in pairs]
    if lost:
        # 0.1.0's writer never WAITs: with --wait-replicas, only the library's clients do.
        old = {label for label, header in history.clients.items() if header["kind"] == "old010"}
        # A capped client's value evicted by the cap at once looks lost near a fault.
        capped = {label for label, header in history.clients.items() if header.get("max_values")}
        by_old = sum(1 for op_id in lost if op_id.rsplit("-", 1)[0] in old)
        by_capped = sum(1 for op_id in lost if op_id.rsplit("-", 1)[0] in capped)
        lines.append(
            f"  acknowledged writes lost: {len(lost) - by_old - by_capped} by the library's "
            f"clients (wait_replicas={_waited(history)}), {by_capped} by its capped client "
            f"(max_values), {by_old} by 0.1.0's writer (no WAIT)"
        )
    for anomaly in verdict.anomalies[:MOST_ANOMALIES]:
        lines.append(f"ANOMALY {anomaly.kind}: {anomaly.message}")
        lines.extend("  " + line for line in sub_history(anomaly, history))
    if len(verdict.anomalies) > MOST_ANOMALIES:
        lines.append(f"... and {len(verdict.anomalies) - MOST_ANOMALIES} more anomalies")
    return "\n".join(lines)


def _waited(history: History) -> int:
    """The ``wait_replicas`` of the library's clients (0 for a history recorded before it)."""
    return max((header.get("wait_replicas", 0) for header in history.clients.values()), default=0)


def _touches(op: dict[str, Any], name: str, value: int | None) -> bool:
    args = op["args"]
    if op["op"] in ("delete",):
        return name in args["names"]
    if op["op"] in ("add", "add_big", "remove"):
        return args["name"] == name and (value is None or value in args["values"])
    if op["op"] in ("add_many", "old_add"):
        return any(n == name and (value is None or value in vs) for n, vs in args["data"])
    if op["op"] == "add_many_with_ttl":
        return any(
            n == name and (value is None or any(v == value for _, v in ps))
            for n, ps in args["data"]
        )
    return False


def sub_history(anomaly: Anomaly, history: History) -> list[str]:
    """The operations that touch the anomaly's name (and value) around it, oldest first."""
    op = anomaly.op
    if op is not None and anomaly.value is None and op["op"] == "remove":
        # A wrong count of a remove: the values it named are the ones to look at.
        return _around(op, anomaly.name, op["args"]["values"], history, None)
    if op is None or anomaly.name is None:
        return [_line(op, history, 0.0)] if op else []
    return _around(op, anomaly.name, [anomaly.value], history, anomaly.since)


def _around(
    op: dict[str, Any],
    name: str | None,
    values: list[int | None],
    history: History,
    since: float | None,
) -> list[str]:
    """``op`` and the operations on ``name``/``values`` from ``since`` (or CONTEXT before)."""
    start, end = (op["inv"] - CONTEXT if since is None else since - 0.001), op["comp"]
    chosen = [
        other
        for other in history.ops
        if name is not None
        and any(_touches(other, name, value) for value in values)
        and other["inv"] < end
        and other["comp"] + (LAG if other["outcome"] == UNKNOWN else 0) > start
    ]
    chosen = chosen[-MOST_LINES:]
    if op not in chosen:
        chosen.append(op)
    faults = [f for f in history.faults if f["start"] < end and f["end"] > start]
    origin = op["inv"]
    lines = [_line(o, history, origin) for o in sorted(chosen, key=lambda o: o["inv"])]
    lines += [
        f"fault {f['kind']} from {f['start'] - origin:+.3f} to {f['end'] - origin:+.3f}"
        for f in faults
    ]
    return lines


def _short(text: str, most: int = 300) -> str:
    """A big batch's arguments cut short: the sub-history stays readable."""
    return text if len(text) <= most else text[: most - 3] + "..."


def _line(op: dict[str, Any], history: History, origin: float) -> str:
    client = history.clients.get(op["proc"], {})
    clock = (
        "server clock"
        if client.get("clock") == "server" and client.get("kind") != "old010"
        else f"clock {client.get('skew', 0.0):+g}s"
    )
    result = json.dumps(op.get("result"))
    return (
        f"[{op['inv'] - origin:+8.3f} .. {op['comp'] - origin:+8.3f}] {op['proc']} "
        f"({client.get('kind', '?')}, {clock}) {op['op']} {_short(json.dumps(op['args']))} "
        f"-> {op['outcome']} {result}"
    )
