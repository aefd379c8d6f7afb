"""deploy/corpusbot.service passes `systemd-analyze verify` and stays well sandboxed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "corpusbot.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze not found (apt-get install -y --no-install-recommends systemd)",
)


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def testable_unit(tmp_path: Path) -> Path:
    """A copy whose ExecStart exists on this machine; verify checks that it is executable."""
    text = UNIT.read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=/opt/corpusbot/venv/bin/corpusbot run$", text, re.M)
    copy = tmp_path / UNIT.name
    copy.write_text(re.sub(r"^ExecStart=.*$", "ExecStart=/bin/true", text, flags=re.M))
    return copy


@needs_systemd
def test_unit_verifies_without_warnings(testable_unit: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(testable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown or misspelled keys are only warnings (exit 0), so stderr must be empty too.
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""


@needs_systemd
def test_sandboxing_scores_ok(testable_unit: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(testable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and "offline" in proc.stderr:
        pytest.skip("this systemd-analyze cannot score units offline")
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 2.0


def test_service_settings_the_deployment_relies_on() -> None:
    d = directives()
    assert d["ExecStart"] == ["/opt/corpusbot/venv/bin/corpusbot run"]
    assert d["EnvironmentFile"] == ["-/etc/corpusbot/env"]
    assert d["StateDirectory"] == ["corpusbot"]
    assert "CORPUSBOT_DB=%S/corpusbot/corpusbot.db" in d["Environment"]
    # compiled retrieval kernels are cached in a directory the service may write
    assert "NUMBA_CACHE_DIR=%C/corpusbot/kernel-cache" in d["Environment"]
    # the kernels install.sh compiled are copied there before the bot starts
    assert d["ExecStartPre"] == [
        "-/bin/cp -Rn /opt/corpusbot/venv/kernel-cache/. ${NUMBA_CACHE_DIR}"
    ]
    assert "MPLCONFIGDIR=%C/corpusbot/matplotlib" in d["Environment"]
    assert d["CacheDirectory"] == ["corpusbot"]
    # the kernels need executable memory
    assert "MemoryDenyWriteExecute" not in d
    assert d["KillSignal"] == ["SIGTERM"]
    assert d["Restart"] == ["on-failure"]
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert d[key] == ["strict" if key == "ProtectSystem" else "yes"], key
    assert d.get("DynamicUser") == ["yes"] or "User" in d


def test_stop_timeout_outlasts_the_graceful_drain() -> None:
    drain = getattr(pytest.importorskip("bot.app"), "DRAIN_SECONDS", None)
    if drain is None:
        pytest.skip("bot.app no longer exposes DRAIN_SECONDS")
    [timeout] = directives()["TimeoutStopSec"]
    assert int(timeout) >= drain + 5
