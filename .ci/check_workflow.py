"""Check the GitHub Actions workflow against .ci/run: valid YAML, jobs, every CI job in its matrix.

Usage: python .ci/check_workflow.py .github/workflows/ci.yml .ci/run
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml


def main(workflow_path: str, run_path: str) -> int:
    """Print each way the workflow and .ci/run disagree; 1 if any, else 0."""
    workflow = yaml.safe_load(Path(workflow_path).read_text("utf-8"))
    problems: list[str] = []
    if not isinstance(workflow, dict) or not isinstance(workflow.get("jobs"), dict):
        print(f"{workflow_path}: no jobs")
        return 1
    # PyYAML reads the bare key `on` as True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    for event in ("push", "pull_request"):
        if not isinstance(triggers, dict) or event not in triggers:
            problems.append(f"not run on {event}")
    listed: set[str] = set()
    for name, job in workflow["jobs"].items():
        if not isinstance(job, dict) or "steps" not in job:
            problems.append(f"job {name} has no steps")
            continue
        matrix = job.get("strategy", {}).get("matrix", {})
        listed.update(str(entry) for entry in matrix.get("job", []))
        steps = " ".join(str(step.get("run", "")) for step in job["steps"])
        if "bash .ci/run" not in steps:
            problems.append(f"job {name} does not run .ci/run")
    found = re.search(r'^ALL_JOBS="([^"]+)"', Path(run_path).read_text("utf-8"), re.M)
    if not found:
        problems.append(f"{run_path} defines no ALL_JOBS")
    else:
        for job_name in found[1].split():
            if job_name not in listed:
                problems.append(f"the CI job {job_name} is not in the workflow's matrix")
    for problem in problems:
        print(f"{workflow_path}: {problem}")
    if not problems:
        print(f"{workflow_path}: {len(listed)} jobs, the same as {run_path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
