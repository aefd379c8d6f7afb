"""deploy/install.sh (the image's install steps) yields a working, non-editable install.

Creates a fresh virtualenv and pip-installs the project into it, so it needs PyPI (pip's
cache is reused). Set CORPUSBOT_SKIP_INSTALL_TEST=1 to skip it when offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("CORPUSBOT_SKIP_INSTALL_TEST", "") not in ("", "0"),
    reason="CORPUSBOT_SKIP_INSTALL_TEST is set",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CORPUSBOT_", "DISCORD_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(extra)
    return env


def test_install_sh_then_ask(tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "venv"
    install = subprocess.run(
        ["sh", str(ROOT / "deploy" / "install.sh"), str(prefix)],
        env=clean_env(PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    seeds = tmp_path / "opt" / "seeds"
    assert sorted(p.name for p in seeds.glob("*.txt")) == sorted(
        p.name for p in (ROOT / "seeds").glob("*.txt")
    )

    where = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(prefix), "not a real (non-editable) install"
    # the engine's kernels were compiled at install time
    kernels = {p.name.split("-")[0] for p in (prefix / "kernel-cache").rglob("*.nbi")}
    assert {"_kernels.accumulate", "_kernels.complete"} <= kernels

    ask = subprocess.run(
        [str(prefix / "bin" / "corpusbot"), "ask", "--json", "Who is Dai Shan?"],
        cwd=tmp_path,
        env=clean_env(
            CORPUSBOT_CORPUS=str(seeds), CORPUSBOT_DB=str(tmp_path / "state" / "corpusbot.db")
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ask.returncode == 0, ask.stderr
    result = json.loads(ask.stdout)
    assert result["question"] == "Who is Dai Shan?"
    assert "Dai Shan" in result["answer"]["text"]
    assert (tmp_path / "state" / "corpusbot.index").exists()


def test_install_sh_refuses_a_non_empty_prefix(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("", encoding="utf-8")

    proc = subprocess.run(
        ["sh", str(ROOT / "deploy" / "install.sh"), str(tmp_path)],
        env=clean_env(PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert proc.returncode == 1
    assert "not empty" in proc.stderr
