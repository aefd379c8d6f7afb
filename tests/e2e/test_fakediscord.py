"""The Discord stand-in, driven by the real, unpatched discord.py client.

Each test starts a small ``AutoShardedBot`` with slash commands, a button view, a
modal and an autocomplete, points discord.py at the stand-in and checks what a user
of Discord would see: replies, ephemeral flags, posted messages, retries and
reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import zlib
from collections.abc import AsyncIterator, Callable

import aiohttp
import discord
import pytest
from discord import app_commands, ui
from discord.ext import commands

from tests.e2e.fakediscord import (
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL_FLAG,
    MODAL,
    SEND_MESSAGES,
    UPDATE_MESSAGE,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    make_token,
    make_user,
    snowflake,
)

try:
    import zstandard
except ImportError:
    zstandard = None

pytestmark = pytest.mark.e2e

TOPICS = ["climate", "elections", "economy", "energy", "education"]
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class VoteView(ui.View):
    def __init__(self, bot: ProbeBot) -> None:
        super().__init__(timeout=60)
        self.bot = bot

    @ui.button(label="Helpful", custom_id="probe:vote:up", style=discord.ButtonStyle.success)
    async def up(self, interaction: discord.Interaction, button: ui.Button) -> None:
        self.bot.clicks.append(interaction.user.id)
        await interaction.response.edit_message(content="Thanks for voting", view=None)


class FeedbackModal(ui.Modal, title="Feedback"):
    comment = ui.Label(text="Comment", component=ui.TextInput(custom_id="probe:comment"))

    def __init__(self, bot: ProbeBot) -> None:
        super().__init__(custom_id="probe:feedback")
        self.bot = bot

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.comment.component, ui.TextInput)
        value = self.comment.component.value
        self.bot.feedback.append(value)
        await interaction.response.send_message(f"Got it: {value}", ephemeral=True)


class ProbeBot(commands.AutoShardedBot):
    """A minimal bot exercising every interaction kind the real bot uses."""

    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.1,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.clicks: list[int] = []
        self.feedback: list[str] = []

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every non-initial IDENTIFY; skipped to keep tests fast.
        return None

    async def setup_hook(self) -> None:
        tree = self.tree

        @tree.command(description="Reply at once")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

        @tree.command(description="Reply only to the caller")
        async def secret(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("for your eyes", ephemeral=True)

        @tree.command(description="Defer, then follow up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("done thinking")

        @tree.command(description="Reply, then edit the reply")
        async def progress(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("working")
            await interaction.edit_original_response(content="finished")

        @tree.command(description="Administrators only")
        @app_commands.default_permissions(manage_guild=True)
        @app_commands.checks.has_permissions(manage_guild=True)
        async def admin(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("admin ok", ephemeral=True)

        @admin.error
        async def admin_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            await interaction.response.send_message("not allowed", ephemeral=True)

        @tree.command(description="Defer, then follow up with an image in an embed")
        async def picture(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            embed = discord.Embed(title="chart").set_image(url="attachment://chart.png")
            image = discord.File(io.BytesIO(PNG_BYTES), filename="chart.png")
            await interaction.followup.send(embed=embed, file=image, ephemeral=True)

        @tree.command(description="Reply with a button")
        async def vote(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Was this helpful?", view=VoteView(self))

        @tree.command(description="Open a modal")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal(self))

        @tree.command(description="Search a topic")
        @app_commands.describe(topic="What to search for")
        async def search(interaction: discord.Interaction, topic: str) -> None:
            await interaction.response.send_message(f"searching {topic}")

        @search.autocomplete("topic")
        async def topic_choices(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=t, value=t) for t in TOPICS if t.startswith(current)]


@contextlib.asynccontextmanager
async def running_bot(fake_discord: FakeDiscord, token: str) -> AsyncIterator[ProbeBot]:
    """Start a ProbeBot against the stand-in, wait for READY and sync commands globally."""
    with fake_discord.redirect_discord_py():
        client = ProbeBot()
        task = asyncio.create_task(client.start(token))
        try:
            await asyncio.wait_for(client.wait_until_ready(), timeout=5)
            await client.tree.sync()
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(task, timeout=5)


@pytest.fixture
async def bot(fake_discord: FakeDiscord, bot_token: str) -> AsyncIterator[ProbeBot]:
    async with running_bot(fake_discord, bot_token) as client:
        yield client


def _channel(bot: ProbeBot, guild: FakeGuild, name: str) -> discord.TextChannel:
    channel = bot.get_channel(guild.channel(name).id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_login_ready_and_guild_cache(
    bot: ProbeBot, fake_discord: FakeDiscord, fake_guild: FakeGuild
) -> None:
    assert bot.user is not None and bot.user.id == fake_discord.bot_user_id
    assert bot.application_id == fake_discord.app_id
    for path in ("/users/@me", "/oauth2/applications/@me", "/gateway/bot"):
        assert fake_discord.count_requests("GET", path) == 1
    assert fake_discord.connection_paths == ["/gateway"]
    # zlib-stream, or zstd-stream when discord.py finds a zstd module.
    requested = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert fake_discord.connection_compression == [requested]
    guild = bot.get_guild(fake_guild.id)
    assert guild is not None and guild.name == "Corpus Test Guild"
    assert sorted(c.name for c in guild.text_channels) == ["general", "news"]
    assert guild.me is not None
    assert _channel(bot, fake_guild, "news").permissions_for(guild.me).send_messages


async def test_tree_sync_puts_commands(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    put = await fake_discord.wait_for_request(
        "PUT", rf"/applications/{fake_discord.app_id}/commands"
    )
    names = sorted(c["name"] for c in put.json)
    assert names == [
        "admin",
        "feedback",
        "picture",
        "ping",
        "progress",
        "search",
        "secret",
        "slow",
        "vote",
    ]
    stored = fake_discord.find_command("search")
    assert stored["id"].isdigit()
    assert stored["options"][0] == {**stored["options"][0], "name": "topic", "autocomplete": True}


async def test_slash_command_reply(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    interaction = await fake_discord.send_slash_command("ping")
    await fake_discord.wait_for_interaction_response(interaction)
    assert interaction.response_type == CHANNEL_MESSAGE
    assert interaction.response_data["content"] == "pong"
    assert not interaction.ephemeral
    channel_contents = [m["content"] for m in fake_discord.channel_messages(interaction.channel_id)]
    assert channel_contents == ["pong"]


async def test_ephemeral_reply_has_flag_and_stays_out_of_channel(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    interaction = await fake_discord.send_slash_command("secret")
    await fake_discord.wait_for_interaction_response(interaction)
    assert interaction.response_data["flags"] & EPHEMERAL_FLAG
    assert interaction.ephemeral
    assert fake_discord.channel_messages(interaction.channel_id) == []


async def test_deferred_reply_then_followup(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    interaction = await fake_discord.send_slash_command("slow")
    await fake_discord.wait_for_interaction_response(interaction)
    assert interaction.response_type == DEFERRED_CHANNEL_MESSAGE
    followups = await fake_discord.wait_for_followups(interaction)
    assert [m["content"] for m in followups] == ["done thinking"]
    request = await fake_discord.wait_for_request("POST", rf"/webhooks/\d+/{interaction.token}")
    assert request.query.get("wait") in ("1", "true")


async def test_followup_with_a_file_keeps_its_bytes_and_resolves_the_embed_image(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    interaction = await fake_discord.send_slash_command("picture")
    [message] = await fake_discord.wait_for_followups(interaction)
    request = await fake_discord.wait_for_request("POST", rf"/webhooks/\d+/{interaction.token}")

    [upload] = request.files
    assert (upload["field"], upload["filename"], upload["data"]) == (
        "files[0]",
        "chart.png",
        PNG_BYTES,
    )
    assert request.json["attachments"] == [{"id": 0, "filename": "chart.png"}]
    assert request.json["embeds"][0]["image"]["url"] == "attachment://chart.png"
    [attachment] = message["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("chart.png", len(PNG_BYTES))
    assert message["embeds"][0]["image"]["url"] == attachment["url"]  # as Discord answers
    assert message["flags"] & EPHEMERAL_FLAG


async def test_system_channel_reaches_the_guild_cache(fake_discord: FakeDiscord) -> None:
    guild = FakeGuild(name="With a system channel", system_channel="general")
    assert guild.to_payload()["system_channel_id"] == str(guild.channel("general").id)
    assert FakeGuild().to_payload()["system_channel_id"] is None


async def test_edit_of_original_reply(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    interaction = await fake_discord.send_slash_command("progress")
    message = await fake_discord.wait_for_original_edit(interaction)
    assert message["content"] == "finished"
    assert [m["content"] for m in fake_discord.channel_messages(interaction.channel_id)] == [
        "finished"
    ]


async def test_default_member_permissions_and_bot_check(
    bot: ProbeBot, fake_discord: FakeDiscord, fake_guild: FakeGuild
) -> None:
    outsider = make_user("reader")
    fake_guild.members.append(FakeMember(outsider))
    with pytest.raises(PermissionError):
        await fake_discord.send_slash_command("admin", user=outsider)

    denied = await fake_discord.send_slash_command(
        "admin", user=outsider, enforce_default_permissions=False
    )
    await fake_discord.wait_for_interaction_response(denied)
    assert denied.response_data["content"] == "not allowed"

    owner = await fake_discord.send_slash_command("admin")
    await fake_discord.wait_for_interaction_response(owner)
    assert owner.response_data["content"] == "admin ok"


async def test_button_click_reaches_view(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    command = await fake_discord.send_slash_command("vote")
    await fake_discord.wait_for_interaction_response(command)
    message = command.original
    assert message is not None
    button = message["components"][0]["components"][0]
    assert button["custom_id"] == "probe:vote:up"

    click = await fake_discord.send_component("probe:vote:up", message)
    await fake_discord.wait_for_interaction_response(click)
    assert bot.clicks == [click.user_id]
    assert click.response_type == UPDATE_MESSAGE
    assert fake_discord.messages[int(message["id"])]["content"] == "Thanks for voting"


async def test_modal_opens_and_submit_reaches_on_submit(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    command = await fake_discord.send_slash_command("feedback")
    await fake_discord.wait_for_interaction_response(command)
    assert command.response_type == MODAL
    assert command.response_data["custom_id"] == "probe:feedback"

    submit = await fake_discord.send_modal_submit("probe:feedback", {"probe:comment": "great"})
    await fake_discord.wait_for_interaction_response(submit)
    assert bot.feedback == ["great"]
    assert submit.response_data["content"] == "Got it: great"
    assert submit.ephemeral


async def test_autocomplete_returns_choices(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    interaction = await fake_discord.send_autocomplete("search", {"topic": "e"}, focused="topic")
    await fake_discord.wait_for_interaction_response(interaction)
    assert interaction.response_type == AUTOCOMPLETE_RESULT
    assert [c["value"] for c in interaction.choices] == [
        "elections",
        "economy",
        "energy",
        "education",
    ]


async def test_channel_send_posts_message(
    bot: ProbeBot, fake_discord: FakeDiscord, fake_guild: FakeGuild
) -> None:
    channel = _channel(bot, fake_guild, "news")
    sent = await channel.send("morning digest", embed=discord.Embed(title="Top story"))
    stored = fake_discord.channel_messages(channel.id)
    assert [m["id"] for m in stored] == [str(sent.id)]
    assert stored[0]["embeds"][0]["title"] == "Top story"
    assert stored[0]["allowed_mentions"] == {"parse": []}
    fetched = await channel.fetch_message(sent.id)
    assert fetched.content == "morning digest"


async def test_rate_limit_then_server_error_is_retried_once_created(
    bot: ProbeBot, fake_discord: FakeDiscord, fake_guild: FakeGuild
) -> None:
    channel = _channel(bot, fake_guild, "general")
    path = rf"/channels/{channel.id}/messages"
    fake_discord.inject_fault("POST", path, 429, retry_after=0.05)
    fake_discord.inject_fault("POST", path, 500)
    sent = await channel.send("after the storm")
    statuses = [r.status for r in fake_discord.find_requests("POST", path)]
    assert statuses == [429, 500, 200]
    assert [m["id"] for m in fake_discord.channel_messages(channel.id)] == [str(sent.id)]


async def test_missing_permission_raises_forbidden(
    bot: ProbeBot, fake_discord: FakeDiscord, fake_guild: FakeGuild
) -> None:
    channel = _channel(bot, fake_guild, "news")
    guild = channel.guild
    await fake_discord.set_channel_overwrite(channel.id, fake_guild.bot_role_id, deny=SEND_MESSAGES)
    await fake_discord.wait_until(lambda: not channel.permissions_for(guild.me).send_messages)
    with pytest.raises(discord.Forbidden) as excinfo:
        await channel.send("not allowed here")
    assert excinfo.value.code == 50013
    assert fake_discord.channel_messages(channel.id) == []

    fake_discord.inject_fault("GET", rf"/channels/{channel.id}/messages/\d+", 404)
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(1)


async def test_late_answer_is_rejected_as_unknown_interaction(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    fake_discord.callback_deadline = 0.0
    interaction = await fake_discord.send_slash_command("ping")
    callback = rf"/interactions/{interaction.id}/[^/]+/callback"
    request = await fake_discord.wait_for_request("POST", callback)
    assert request.status == 404
    assert interaction.callbacks == []


async def test_guilds_are_spread_over_shards() -> None:
    # A guild's shard is (guild_id >> 22) % shard_count.
    even = FakeGuild(name="Even", id=(1_000_000_000_000 << 22) | 1)
    odd = FakeGuild(name="Odd", id=(1_000_000_000_001 << 22) | 1)
    fd = FakeDiscord(guilds=[even, odd], shard_count=2, app_id=snowflake())
    async with fd, running_bot(fd, make_token(fd.bot_user_id)) as client:
        assert client.shard_count == 2
        assert fd.identify_count == 2
        assert {g.id: g.shard_id for g in client.guilds} == {even.id: 0, odd.id: 1}
        for guild in (even, odd):
            interaction = await fd.send_slash_command("ping", guild_id=guild.id)
            await fd.wait_for_interaction_response(interaction)
            assert interaction.response_data["content"] == "pong"


async def _assert_answers_ping(fake_discord: FakeDiscord) -> None:
    interaction = await fake_discord.send_slash_command("ping")
    await fake_discord.wait_for_interaction_response(interaction)
    assert interaction.response_data["content"] == "pong"


async def test_reconnect_request_resumes(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    await fake_discord.reconnect_request()
    await fake_discord.wait_until_resumed()
    assert fake_discord.identify_count == 1
    assert fake_discord.connection_paths == ["/gateway", "/gateway-resume"]
    await _assert_answers_ping(fake_discord)


async def test_dropped_socket_reconnects(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    fake_discord.drop_connection()
    await fake_discord.wait_until_resumed()
    assert fake_discord.identify_count == 1
    assert fake_discord.connection_paths == ["/gateway", "/gateway-resume"]
    await _assert_answers_ping(fake_discord)


async def test_event_sent_while_disconnected_is_replayed_on_resume(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    fake_discord.drop_connection()
    interaction = await fake_discord.send_slash_command("ping")
    await fake_discord.wait_until_resumed()
    await fake_discord.wait_for_interaction_response(interaction)
    assert interaction.response_data["content"] == "pong"


async def test_invalid_session_reidentifies(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    await fake_discord.invalid_session(resumable=False)
    await fake_discord.wait_until_identified(count=2)
    assert fake_discord.resume_count == 0
    assert fake_discord.connection_paths == ["/gateway", "/gateway"]
    await _assert_answers_ping(fake_discord)


async def test_second_answer_to_an_interaction_is_rejected(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    interaction = await fake_discord.send_slash_command("ping")
    await fake_discord.wait_for_interaction_response(interaction)
    async with aiohttp.ClientSession() as session:
        url = f"{fake_discord.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
        async with session.post(url, json={"type": 4, "data": {"content": "again"}}) as resp:
            assert resp.status == 400
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["code"] == 40060


def _decoder(compress: str | None) -> Callable[[aiohttp.WSMessage], dict]:
    """Decode frames the way discord.py does for each ``compress`` mode."""
    if compress == "zlib-stream":
        inflator = zlib.decompressobj()

        def decode(msg: aiohttp.WSMessage) -> dict:
            assert msg.type is aiohttp.WSMsgType.BINARY
            assert msg.data.endswith(b"\x00\x00\xff\xff")
            return json.loads(inflator.decompress(msg.data))

    elif compress == "zstd-stream":
        assert zstandard is not None
        stream = zstandard.ZstdDecompressor().decompressobj()

        def decode(msg: aiohttp.WSMessage) -> dict:
            assert msg.type is aiohttp.WSMsgType.BINARY
            return json.loads(stream.decompress(msg.data))

    else:

        def decode(msg: aiohttp.WSMessage) -> dict:
            assert msg.type is aiohttp.WSMsgType.TEXT
            return json.loads(msg.data)

    return decode


@pytest.mark.parametrize(
    "compress",
    [
        None,
        "zlib-stream",
        pytest.param(
            "zstd-stream",
            marks=pytest.mark.skipif(zstandard is None, reason="zstandard is not installed"),
        ),
    ],
)
async def test_gateway_frames_plain_and_compressed(
    fake_discord: FakeDiscord, compress: str | None
) -> None:
    params = {"v": "10", "encoding": "json"}
    if compress:
        params["compress"] = compress
    decode = _decoder(compress)

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fake_discord.gateway_url, params=params) as ws,
    ):
        assert decode(await ws.receive(timeout=5))["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": "x", "intents": 0, "properties": {}}})
        ready = decode(await ws.receive(timeout=5))
        assert ready["t"] == "READY" and ready["s"] == 1
        assert ready["d"]["shard"] == [0, 1]
        assert decode(await ws.receive(timeout=5))["t"] == "GUILD_CREATE"
        await ws.send_json({"op": 1, "d": 2})
        assert decode(await ws.receive(timeout=5))["op"] == 11
