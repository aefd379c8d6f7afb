"""Fixtures for end-to-end tests against the local Discord stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.fakediscord import FakeDiscord, FakeGuild, make_token


@pytest.fixture
def fake_guild() -> FakeGuild:
    """A guild with #general and #news, one human member (the owner) and the bot."""
    return FakeGuild(name="Corpus Test Guild", channels=["general", "news"])


@pytest.fixture
async def fake_discord(fake_guild: FakeGuild) -> AsyncIterator[FakeDiscord]:
    """A running stand-in on 127.0.0.1 holding ``fake_guild``."""
    async with FakeDiscord(guilds=[fake_guild]) as fd:
        yield fd


@pytest.fixture
def bot_token(fake_discord: FakeDiscord) -> str:
    return make_token(fake_discord.bot_user_id)


@pytest.fixture
def bot_env(fake_discord: FakeDiscord, bot_token: str) -> dict[str, str]:
    """Environment variables that point a bot process at the stand-in."""
    return {"DISCORD_TOKEN": bot_token, "DISCORD_API_BASE": fake_discord.api_base}
