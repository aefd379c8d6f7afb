"""/reindex, /stats (figures and a chart) and /sync for the bot's admins (checked server-side)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.admins import admin_only
from bot.chart import render_chart
from bot.core import Busy, UserError
from bot.render import (
    CHART_FILENAME,
    Card,
    error_card,
    fit,
    reindex_card,
    stats_card,
    to_embed,
)

if TYPE_CHECKING:
    from bot.app import CorpusBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()

PROGRESS_EVERY = 1.5


def _progress_card(stage: str, done: int, total: int, elapsed: float) -> Card:
    share = f" {done}/{total}" if total else ""
    return fit(Card(title="Reindexing…", description=f"{stage}{share} · {elapsed:.0f} s"))


class Admin(commands.Cog):
    def __init__(self, bot: CorpusBot) -> None:
        self.bot = bot
        self.core = bot.core

    @app_commands.command(name="reindex", description="Re-read the corpus folder (bot admins)")
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def reindex(self, interaction: discord.Interaction) -> None:
        if self.core.reindexing:
            raise Busy("A reindex is already running; wait for it to finish.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        log.info("reindex requested by %d", interaction.user.id)
        task = asyncio.create_task(self.core.reindex())
        started = time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_EVERY)
            progress = self.core.reindex_progress
            if task.done() or progress is None:
                break
            card = _progress_card(
                progress.stage, progress.done, progress.total, time.monotonic() - started
            )
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(embed=to_embed(card))
        try:
            outcome = await task
        except UserError as exc:  # the build failed; the old index keeps serving
            await interaction.edit_original_response(embed=to_embed(error_card(str(exc))))
            return
        await interaction.edit_original_response(embed=to_embed(reindex_card(outcome)))

    @app_commands.command(
        name="stats", description="Questions, answers, feedback and a chart (bot admins)"
    )
    @app_commands.describe(period="How far back: the last day, week (default), month, or all")
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def stats(
        self,
        interaction: discord.Interaction,
        period: Literal["day", "week", "month", "all"] = "week",
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.core.stats(period)
        files: list[discord.File] = []
        try:
            png = await asyncio.to_thread(render_chart, report)
        except Exception:  # the figures still go out without their chart
            log.exception("could not draw the stats chart")
        else:
            files.append(discord.File(io.BytesIO(png), filename=CHART_FILENAME))
        card = stats_card(report, chart=bool(files))
        await interaction.followup.send(
            embed=to_embed(card), files=files, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="sync", description="Register the slash commands (bot admins)")
    @app_commands.describe(scope="Everywhere (global) or only this server")
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def sync(
        self, interaction: discord.Interaction, scope: Literal["global", "server"] = "server"
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if scope == "server" and interaction.guild is not None:
            self.bot.tree.copy_global_to(guild=interaction.guild)
            synced = await self.bot.tree.sync(guild=interaction.guild)
        else:
            synced = await self.bot.tree.sync()
        await interaction.followup.send(f"Synced {len(synced)} commands ({scope}).", ephemeral=True)


async def setup(bot: CorpusBot) -> None:
    await bot.add_cog(Admin(bot))
