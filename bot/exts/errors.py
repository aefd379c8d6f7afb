"""One place that turns errors in app commands into what users see."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import UserError
from bot.render import error_card, to_embed

log = logging.getLogger(__name__)


async def reply_error(interaction: discord.Interaction, message: str) -> None:
    """Tell the user what went wrong, privately, whether or not we already responded."""
    embed = to_embed(error_card(message))
    try:
        if interaction.response.is_done():
            await interaction.followup.send(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not deliver an error message: %s", exc)


def user_message(error: Exception) -> str | None:
    """The message for errors users should see; None for bugs."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"You're doing that too fast: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works in a server channel."
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need {', '.join(error.missing_permissions)} to do that."
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You can't use that command here."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't read {error.value!r} as {error.type.name.lower()}."
    return None


class Errors(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self._previous = bot.tree.on_error

    async def cog_load(self) -> None:
        self.bot.tree.on_error = self.on_app_command_error

    async def cog_unload(self) -> None:
        self.bot.tree.on_error = self._previous

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        message = user_message(error)
        if message is None:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("error in /%s", command, exc_info=error)
            message = "Something went wrong on my side; it has been logged. Please try again."
        await reply_error(interaction, message)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Errors(bot))
