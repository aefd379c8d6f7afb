"""Work in flight, for a graceful shutdown: the refusal shown once shutdown began, and
the check that buttons and modals carry (the command tree has its own hook in
``bot.app``), both marking the running task so shutdown waits for it."""

from __future__ import annotations

import asyncio

import discord

from bot.core import UserError
from bot.exts.errors import reply_error

__all__ = ["ShuttingDown", "TrackedItem", "admit_work"]


class ShuttingDown(UserError):
    def __init__(self) -> None:
        super().__init__("The bot is restarting; try again in a minute.")


def admit_work(client: object) -> bool:
    """False once the client is shutting down; otherwise mark the current task in
    flight (``client.track``) and return True."""
    if getattr(client, "closing", False):
        return False
    track = getattr(client, "track", None)
    if track is not None:
        track(asyncio.current_task())
    return True


class TrackedItem:
    """Mixed into buttons and modals, which the command tree does not see: their
    ``interaction_check`` marks the callback's task in flight, or refuses during
    shutdown, as the tree's hook does for commands."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if admit_work(interaction.client):
            return True
        await reply_error(interaction, str(ShuttingDown()))
        return False
