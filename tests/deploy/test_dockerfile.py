"""Static checks on deploy/Dockerfile and deploy/compose.yaml (no Docker daemon needed)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
VENV = "/opt/corpusbot/venv"
SEEDS = "/app/seeds"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            split.append([])
        if split:
            split[-1].append((keyword, args))
    return split


def args_of(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def test_multi_stage_on_python_311_slim() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    default_image = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", _dockerfile(), re.M)
    assert default_image and default_image.group(1) == "python:3.11-slim"
    for stage in all_stages:
        [base] = args_of(stage, "FROM")
        assert re.fullmatch(r"(\$\{PYTHON_IMAGE\}|python:3\.11-slim) AS \w+", base), base


def test_builder_runs_install_sh_with_the_runtime_paths() -> None:
    builder = stages()[0]
    runs = " ".join(args_of(builder, "RUN"))
    assert re.search(rf"\bdeploy/install\.sh {re.escape(VENV)} {re.escape(SEEDS)}\b", runs)
    assert "pip install" not in runs, "install steps belong in deploy/install.sh"


def test_runtime_copies_the_venv_and_seeds_from_the_builder() -> None:
    runtime = stages()[-1]
    copies = args_of(runtime, "COPY")
    assert f"--from=builder {VENV} {VENV}" in copies
    assert f"--from=builder {SEEDS} {SEEDS}" in copies
    env = " ".join(args_of(runtime, "ENV"))
    assert f"PATH={VENV}/bin:$PATH" in env
    assert f"CORPUSBOT_CORPUS={SEEDS}" in env
    assert "CORPUSBOT_DB=/var/lib/corpusbot/" in env
    assert "NUMBA_CACHE_DIR=/var/lib/corpusbot/kernel-cache" in env  # writable by the bot
    # filled with the kernels install.sh compiled, so no container compiles them
    assert any(
        f"cp -R {VENV}/kernel-cache /var/lib/corpusbot/kernel-cache" in run
        for run in args_of(runtime, "RUN")
    )
    assert "MPLCONFIGDIR=/var/lib/corpusbot/" in env  # the chart's font cache, writable too
    assert any("/var/lib/corpusbot" in v for v in args_of(runtime, "VOLUME"))


def test_runs_as_a_non_root_user() -> None:
    users = args_of(stages()[-1], "USER")
    assert users, "the runtime stage needs a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_healthcheck_and_cmd() -> None:
    runtime = stages()[-1]
    [health] = args_of(runtime, "HEALTHCHECK")
    options, _, command = health.partition("CMD ")
    assert "--timeout=" in options
    assert json.loads(command) == ["corpusbot", "health"]
    [cmd] = args_of(runtime, "CMD")
    assert json.loads(cmd) == ["corpusbot", "run"]


def test_build_context_sends_everything_install_sh_copies() -> None:
    script = (DEPLOY / "install.sh").read_text(encoding="utf-8")
    items = re.search(r"^for item in (.+); do$", script, re.M)
    assert items
    allowed = {
        line[1:]
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    for item in [*shlex.split(items.group(1)), "seeds", "deploy/install.sh"]:
        assert item in allowed, f"{item} is left out of the build context"


def test_compose_builds_this_dockerfile_with_the_same_healthcheck() -> None:
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    assert re.search(r"^\s+context: \.\.$", compose, re.M)
    assert re.search(r"^\s+dockerfile: deploy/Dockerfile$", compose, re.M)
    assert re.search(r"^\s+- path: \.env$", compose, re.M)
    assert re.search(r"^\s+restart: unless-stopped$", compose, re.M)
    assert re.search(r"^\s+- state:/var/lib/corpusbot$", compose, re.M)
    test = re.search(r"^\s+test: (\[.*\])$", compose, re.M)
    assert test and json.loads(test.group(1)) == ["CMD", "corpusbot", "health"]
    grace = re.search(r"^\s+stop_grace_period: (\d+)s$", compose, re.M)
    assert grace and int(grace.group(1)) >= 25


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
