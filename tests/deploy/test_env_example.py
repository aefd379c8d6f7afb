"""deploy/.env.example lists exactly the settings bot/config.py reads, with their defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import SETTINGS, Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / ".env.example"
# `NAME=value` or, for a setting left at its default, `# NAME=value`.
_ASSIGNMENT = re.compile(r"^(?:#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")


def example_settings() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line.strip())
        if match:
            name, value = match.groups()
            assert name not in found, f"{name} is listed twice"
            found[name] = value.strip()
    return found


def settings_aliases() -> dict[str, str]:
    """Environment variable name -> field name, from bot.config.SETTINGS."""
    return {setting.variable: name for name, setting in SETTINGS.items()}


def test_every_setting_is_listed_and_nothing_else() -> None:
    listed = set(example_settings())
    read = set(settings_aliases())

    assert listed - read == set(), "listed in .env.example but not read by Settings"
    assert read - listed == set(), "read by Settings but missing from .env.example"


def test_each_setting_has_a_comment_above_it() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if _ASSIGNMENT.match(line.strip()):
            above = lines[n - 1].strip()
            assert above.startswith("# ") and not _ASSIGNMENT.match(above), line


def test_no_real_token() -> None:
    assert example_settings()["DISCORD_TOKEN"] == ""


@pytest.mark.parametrize("alias", sorted(settings_aliases()))
def test_listed_value_is_the_default(alias: str, monkeypatch: pytest.MonkeyPatch) -> None:
    field = SETTINGS[settings_aliases()[alias]]
    value = example_settings()[alias]
    if field.default_factory is not None:
        # The bundled seeds folder, wherever the project is installed.
        assert Path(value).name == Path(field.default_factory()).name
        return
    for name in settings_aliases():
        monkeypatch.delenv(name, raising=False)
    if value:
        monkeypatch.setenv(alias, value)

    parsed = getattr(Settings(), settings_aliases()[alias])

    assert parsed == field.default
