"""/synonyms for the bot's admins: list, add and remove alias groups (checked server-side)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.admins import admin_only
from bot.core import MAX_SYNONYM_LINE
from bot.render import synonyms_card, to_embed

if TYPE_CHECKING:
    from bot.app import CorpusBot

log = logging.getLogger(__name__)


@app_commands.default_permissions(manage_guild=True)
class Synonyms(commands.GroupCog, group_name="synonyms"):
    """Names that mean the same thing, used by every answer after a restart too."""

    def __init__(self, bot: CorpusBot) -> None:
        self.bot = bot
        self.core = bot.core
        super().__init__()

    @app_commands.command(name="list", description="The synonym groups answers use (bot admins)")
    @admin_only()
    async def list_groups(self, interaction: discord.Interaction) -> None:
        card = synonyms_card(self.core.file_synonyms.groups, self.core.admin_synonyms)
        await interaction.response.send_message(embed=to_embed(card), ephemeral=True)

    @app_commands.command(name="add", description="Add names that mean the same (bot admins)")
    @app_commands.describe(names="Two or more names separated by commas: Jack Ma, Ma Yun")
    @admin_only()
    async def add(
        self,
        interaction: discord.Interaction,
        names: app_commands.Range[str, 3, MAX_SYNONYM_LINE],
    ) -> None:
        group = await self.core.add_synonyms(names, interaction.user.id)
        card = synonyms_card(self.core.file_synonyms.groups, self.core.admin_synonyms)
        await interaction.response.send_message(
            f"Added #{group.id}.", embed=to_embed(card), ephemeral=True
        )

    @app_commands.command(name="remove", description="Remove a synonym group (bot admins)")
    @app_commands.describe(number="The group's number, from /synonyms list")
    @admin_only()
    async def remove(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1]
    ) -> None:
        removed = await self.core.remove_synonyms(number)
        text = f"Removed #{number}." if removed else f"There is no group #{number}."
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: CorpusBot) -> None:
    await bot.add_cog(Synonyms(bot))
