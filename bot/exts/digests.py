"""/subscribe, /unsubscribe, /resume, /subscriptions, /digest, the digest loop and the
notice a server gets when one of its digests pauses."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.core import MAX_TOPIC_CHARS, ChannelRefused, Digest, NoticeUndeliverable, UserError
from bot.render import digest_card, pause_notice_card, subscriptions_card, to_embed
from bot.storage import Subscription

if TYPE_CHECKING:
    from bot.app import CorpusBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
NEEDED = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
}


def _missing_permissions(interaction: discord.Interaction) -> list[str]:
    """What the bot lacks to post digests in the interaction's channel."""
    perms = interaction.app_permissions
    missing = [label for name, label in NEEDED.items() if not getattr(perms, name)]
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and not perms.send_messages_in_threads:
        missing.append("Send Messages in Threads")
    return missing


class Digests(commands.Cog):
    def __init__(self, bot: CorpusBot) -> None:
        self.bot = bot
        self.core = bot.core
        self.loop.change_interval(seconds=bot.settings.digest_interval)

    async def cog_load(self) -> None:
        self.loop.start()

    async def cog_unload(self) -> None:
        self.loop.cancel()

    async def stop_background(self) -> None:
        """Finish the current digest round (if any) and stop the loop."""
        self.loop.stop()

    # --- commands -------------------------------------------------------------------

    @app_commands.command(
        name="subscribe", description="Post a digest of new articles on a topic here"
    )
    @app_commands.describe(topic="Words to match, e.g. Alibaba Cloud", cadence="How often to post")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    async def subscribe(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, MAX_TOPIC_CHARS],
        cadence: Literal["hourly", "daily", "weekly"],
    ) -> None:
        # Server-side: default_permissions only hides the command in clients.
        if not interaction.permissions.manage_channels:
            raise UserError("You need the Manage Channels permission to subscribe a channel.")
        missing = _missing_permissions(interaction)
        if missing:
            raise UserError(
                "I can't post digests in this channel: I'm missing "
                f"{', '.join(missing)}. Grant them and try again."
            )
        sub, created = await self.core.subscribe(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            topic=topic,
            cadence=cadence,
            user_id=interaction.user.id,
        )
        verb = "will now get" if created else "now gets"
        await interaction.response.send_message(
            f"📬 This channel {verb} a **{sub.cadence}** digest of new articles on "
            f"“{discord.utils.escape_markdown(sub.topic)}”. The first one comes shortly.",
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="unsubscribe", description="Stop a digest in this channel")
    @app_commands.describe(topic="The topic to stop")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    async def unsubscribe(
        self, interaction: discord.Interaction, topic: app_commands.Range[str, 1, MAX_TOPIC_CHARS]
    ) -> None:
        if not interaction.permissions.manage_channels:
            raise UserError("You need the Manage Channels permission to unsubscribe a channel.")
        removed = await self.core.unsubscribe(interaction.channel_id or 0, topic)
        shown = discord.utils.escape_markdown(topic)
        message = (
            f"Unsubscribed this channel from “{shown}”."
            if removed
            else f"This channel has no digest on “{shown}”."
        )
        await interaction.response.send_message(message, ephemeral=True)

    @unsubscribe.autocomplete("topic")
    async def _topics(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current, paused_only=False)

    async def _choices(
        self, interaction: discord.Interaction, current: str, *, paused_only: bool
    ) -> list[app_commands.Choice[str]]:
        subs = await self.core.channel_subscriptions(interaction.channel_id or 0)
        needle = current.casefold()
        return [
            app_commands.Choice(name=s.topic[:100], value=s.topic[:100])
            for s in subs
            if needle in s.topic.casefold() and not (paused_only and s.active)
        ][:25]

    @app_commands.command(name="resume", description="Restart a paused digest in this channel")
    @app_commands.describe(topic="The paused topic")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    async def resume(
        self, interaction: discord.Interaction, topic: app_commands.Range[str, 1, MAX_TOPIC_CHARS]
    ) -> None:
        if not interaction.permissions.manage_channels:
            raise UserError("You need the Manage Channels permission to resume a digest.")
        missing = _missing_permissions(interaction)
        if missing:
            raise UserError(
                "I still can't post digests in this channel: I'm missing "
                f"{', '.join(missing)}. Grant them and try again."
            )
        sub = await self.core.resume(interaction.channel_id or 0, topic)
        await interaction.response.send_message(
            f"▶️ The **{sub.cadence}** digest on “{discord.utils.escape_markdown(sub.topic)}” "
            "restarts: the next one comes shortly, with only articles this channel has "
            "not had yet.",
            allowed_mentions=NO_MENTIONS,
        )

    @resume.autocomplete("topic")
    async def _paused_topics(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current, paused_only=True)

    @app_commands.command(
        name="subscriptions", description="This server's digests and their status"
    )
    @app_commands.guild_only()
    async def subscriptions(self, interaction: discord.Interaction) -> None:
        # acknowledged first: the database may be busy logging a burst of questions
        with self.core.workers.acknowledging():
            await interaction.response.defer(ephemeral=True, thinking=True)
        subs = await self.core.guild_subscriptions(interaction.guild_id or 0)
        where = interaction.guild.name if interaction.guild else "this server"
        card = subscriptions_card(subs, self.core.clock(), where=where)
        await interaction.followup.send(
            embed=to_embed(card), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="digest", description="Preview what a digest on a topic would list")
    @app_commands.describe(topic="Words to match, e.g. Alibaba Cloud")
    async def digest(
        self, interaction: discord.Interaction, topic: app_commands.Range[str, 1, MAX_TOPIC_CHARS]
    ) -> None:
        # acknowledged first: the search waits its turn behind questions being answered
        with self.core.workers.acknowledging():
            await interaction.response.defer(ephemeral=True, thinking=True)
        preview = await self.core.preview_digest(topic, interaction.channel_id)
        card = digest_card(
            preview.topic, preview.items, preview=True, subscribed=preview.subscribed
        )
        await interaction.followup.send(
            embed=to_embed(card), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    # --- the loop -------------------------------------------------------------------

    @tasks.loop(seconds=60)
    async def loop(self) -> None:
        await self.core.deliver_due(self.post, stop=lambda: self.bot.closing)
        if self.bot.closing:
            return
        try:
            await self.core.send_pause_notices(self.notify)
        except Exception:
            log.exception("sending pause notices failed; will retry next round")

    @loop.before_loop
    async def _before(self) -> None:
        await self.bot.wait_until_ready()

    async def post(self, sub: Subscription, digest: Digest, nonce: str) -> int:
        """Post one digest with its run's nonce (discord.py sends ``enforce_nonce``
        with it, so a repeat returns the message already posted); returns its id.
        Raises ChannelRefused if Discord refuses the channel."""
        embed = to_embed(digest_card(digest.topic, digest.items, preview=False))
        channel_id = sub.channel_id
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                raise ChannelRefused("the channel can't receive messages")
            message = await channel.send(embed=embed, allowed_mentions=NO_MENTIONS, nonce=nonce)
        except discord.Forbidden as exc:
            raise ChannelRefused(f"no permission to post here ({exc.text or exc.status})") from None
        except discord.NotFound:
            raise ChannelRefused("the channel no longer exists") from None
        log.info("digest posted in channel %d: %d articles", channel_id, len(digest.items))
        return message.id

    async def notify(self, sub: Subscription) -> str:
        """Tell a server its digest paused: in its system channel if I may post there,
        else by direct message to whoever subscribed. Returns where it went."""
        embed = to_embed(pause_notice_card(sub))
        tried: list[str] = []
        guild = self.bot.get_guild(sub.guild_id) if sub.guild_id else None
        channel = guild.system_channel if guild is not None else None
        if guild is None:
            tried.append("the server is not in my cache")
        elif channel is None:
            tried.append("the server has no system channel")
        elif channel.id == sub.channel_id:
            tried.append("the system channel is the paused one")
        else:
            perms = channel.permissions_for(guild.me)
            if perms.view_channel and perms.send_messages and perms.embed_links:
                try:
                    await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
                except discord.HTTPException as exc:
                    tried.append(f"the system channel refused it ({exc.status})")
                else:
                    return f"<#{channel.id}>"
            else:
                tried.append("I can't post embeds in the system channel")
        if sub.created_by is None:
            tried.append("nobody to message directly")
            raise NoticeUndeliverable("; ".join(tried))
        try:
            user = self.bot.get_user(sub.created_by) or await self.bot.fetch_user(sub.created_by)
            await user.send(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            tried.append(f"a direct message to the subscriber failed ({exc.status})")
            raise NoticeUndeliverable("; ".join(tried)) from None
        return "the subscriber by direct message"


async def setup(bot: CorpusBot) -> None:
    await bot.add_cog(Digests(bot))
