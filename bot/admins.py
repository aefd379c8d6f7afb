"""Who the bot's admins are, and the server-side check the admin commands carry.

Bot admins are the application's owner (or its team members) plus the user ids in
CORPUSBOT_ADMIN_IDS, whatever permissions a server grants. The cogs import the check
from here; it needs only a client with ``settings`` and discord.py's ``is_owner``."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

__all__ = ["admin_only", "is_bot_admin"]

NOT_AN_ADMIN = "Only the bot's admins can do that."


async def is_bot_admin(client: Any, user: discord.abc.User) -> bool:
    """The application's owner or team members, plus CORPUSBOT_ADMIN_IDS."""
    settings = getattr(client, "settings", None)
    if settings is not None and user.id in settings.admin_ids:
        return True
    is_owner = getattr(client, "is_owner", None)
    return bool(is_owner is not None and await is_owner(user))


def admin_only():
    """Server-side check for bot admins (owner/team or configured ids)."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if await is_bot_admin(interaction.client, interaction.user):
            return True
        raise app_commands.CheckFailure(NOT_AN_ADMIN)

    return app_commands.check(predicate)
