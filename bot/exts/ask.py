"""/ask with numbered sources, 👍/👎 feedback that survives restarts, and /help."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import MAX_QUESTION_CHARS, Requester, UserError
from bot.exts.errors import reply_error
from bot.inflight import TrackedItem
from bot.logs import query_context
from bot.render import answer_card, help_card, to_embed

if TYPE_CHECKING:
    from bot.app import CorpusBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class VoteButton(
    TrackedItem,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"corpusbot:vote:(?P<query_id>[0-9]{1,18}):(?P<vote>up|down)",
):
    """👍 / 👎 under an answer; the query id lives in the custom_id, so it keeps
    working after a restart."""

    def __init__(self, query_id: int, up: bool) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if up else "👎",
                label="Helpful" if up else "Not helpful",
                custom_id=f"corpusbot:vote:{query_id}:{'up' if up else 'down'}",
            )
        )
        self.query_id = query_id
        self.up = up

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> VoteButton:
        return cls(int(match["query_id"]), match["vote"] == "up")

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: CorpusBot = interaction.client  # type: ignore[assignment]
        token = query_context.set(self.query_id)
        try:
            await bot.core.vote(self.query_id, interaction.user.id, self.up)
            log.info("vote %s from %d", "up" if self.up else "down", interaction.user.id)
            if self.up:
                await interaction.response.send_message(
                    "Thanks for the feedback! 👍", ephemeral=True
                )
            else:
                await interaction.response.send_modal(ReasonModal(self.query_id))
        except UserError as exc:
            await reply_error(interaction, str(exc))
        finally:
            query_context.reset(token)


class ReasonModal(TrackedItem, discord.ui.Modal, title="What was wrong with the answer?"):
    reason = discord.ui.TextInput(
        label="Reason (optional)",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=500,
        placeholder="e.g. wrong article, answer cut off, outdated",
    )

    def __init__(self, query_id: int) -> None:
        super().__init__(custom_id=f"corpusbot:reason:{query_id}", timeout=900)
        self.query_id = query_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot: CorpusBot = interaction.client  # type: ignore[assignment]
        text = self.reason.value.strip()
        try:
            if text:
                await bot.core.set_reason(self.query_id, interaction.user.id, text)
        except UserError as exc:
            await reply_error(interaction, str(exc))
            return
        await interaction.response.send_message("Thanks, noted. 👎", ephemeral=True)


def feedback_view(query_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(query_id, up=True))
    view.add_item(VoteButton(query_id, up=False))
    return view


class Ask(commands.Cog):
    def __init__(self, bot: CorpusBot) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Ask a question about the news articles")
    @app_commands.describe(
        question=f"Your question (up to {MAX_QUESTION_CHARS} characters)",
        private="Show the answer only to you",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        private: bool = False,
    ) -> None:
        core = self.bot.core
        # Acknowledge before any work that awaits: Discord forgets an interaction
        # not acknowledged within 3 s. The checks before it are cheap and answer
        # with their own reply.
        who = Requester(interaction.user.id, interaction.guild_id, interaction.channel_id)
        cleaned = await core.admit(question, who)  # UserError -> errors cog
        with core.workers.acknowledging():
            await interaction.response.defer(ephemeral=private, thinking=True)
        outcome = await core.answer(cleaned, who)
        token = query_context.set(outcome.query_id)
        try:
            card = await core.workers.finish(answer_card, cleaned, outcome.result, outcome.query_id)
            await interaction.followup.send(
                embed=to_embed(card),
                view=feedback_view(outcome.query_id),
                ephemeral=private,
                allowed_mentions=NO_MENTIONS,
            )
            log.info("answered in %.1f ms", outcome.latency_ms)
        finally:
            query_context.reset(token)

    @app_commands.command(name="help", description="What this bot does and its commands")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=to_embed(help_card()), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: CorpusBot) -> None:
    bot.add_dynamic_items(VoteButton)
    await bot.add_cog(Ask(bot))


async def teardown(bot: CorpusBot) -> None:
    bot.remove_dynamic_items(VoteButton)
