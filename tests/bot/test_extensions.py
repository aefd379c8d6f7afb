"""Meta-tests over bot.exts: every extension loads, and the command tree is well formed.

The extensions are loaded into a real CorpusBot (with a real core) that never logs in,
so nothing here touches the network.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from discord import app_commands

import bot.exts
from bot.app import EXTENSIONS, CorpusBot
from bot.config import Settings
from bot.core import MAX_QUESTION_CHARS, MAX_SYNONYM_LINE, MAX_TOPIC_CHARS, Core

ADMIN_COMMANDS = ("reindex", "stats", "sync", "synonyms list", "synonyms add", "synonyms remove")
OWNER_ID = 999
ADMIN_ID = 42


def extension_modules() -> list[ModuleType]:
    names = sorted(
        f"{bot.exts.__name__}.{info.name}"
        for info in pkgutil.iter_modules(bot.exts.__path__)
        if not info.name.startswith("_")
    )
    return [importlib.import_module(name) for name in names]


@pytest.fixture
async def corpusbot(tmp_path: Path, seeds_dir: Path) -> AsyncIterator[CorpusBot]:
    settings = Settings(
        corpus=seeds_dir,
        db=tmp_path / "data" / "corpusbot.db",
        index_dir=tmp_path / "index",
        admin_ids=frozenset({ADMIN_ID}),
        dev_guild_id=None,
    )
    core = await Core.start(settings)
    client = CorpusBot(settings, core)
    client.owner_id = OWNER_ID  # so is_owner() never asks Discord
    try:
        # Entering the client sets up its event loop state; only login() would run
        # setup_hook and reach the network, so the extensions are loaded by hand.
        async with client:
            for extension in EXTENSIONS:
                await client.load_extension(extension)
            try:
                yield client
            finally:
                for extension in reversed(list(client.extensions)):
                    await client.unload_extension(extension)
    finally:
        await core.close()


def command(client: CorpusBot, name: str) -> app_commands.Command:
    group, _, sub = name.partition(" ")
    found = client.tree.get_command(group)
    if sub and isinstance(found, app_commands.Group):
        found = found.get_command(sub)
    assert isinstance(found, app_commands.Command), f"/{name} is not registered"
    return found


def option(client: CorpusBot, name: str, param: str) -> dict:
    """An option as Discord receives it on sync (where it enforces lengths)."""
    options = command(client, name).to_dict(client.tree)["options"]
    return next(o for o in options if o["name"] == param)


def all_commands(client: CorpusBot) -> list[app_commands.Command | app_commands.Group]:
    found: list[app_commands.Command | app_commands.Group] = []
    for top in client.tree.get_commands():
        found.append(top)
        if isinstance(top, app_commands.Group):
            found.extend(top.walk_commands())
    return found


# --- the modules ----------------------------------------------------------------------


def test_every_extension_module_has_an_async_setup() -> None:
    modules = extension_modules()

    assert modules
    for module in modules:
        setup = getattr(module, "setup", None)
        assert setup is not None, f"{module.__name__} has no setup(bot)"
        assert inspect.iscoroutinefunction(setup), f"{module.__name__}.setup is not async"
        assert list(inspect.signature(setup).parameters) == ["bot"], module.__name__


def test_every_extension_module_is_loaded_by_the_bot() -> None:
    assert sorted(EXTENSIONS) == [m.__name__ for m in extension_modules()]
    assert len(set(EXTENSIONS)) == len(EXTENSIONS)


# --- the command tree -----------------------------------------------------------------


async def test_loading_every_extension_registers_the_commands(corpusbot: CorpusBot) -> None:
    names = {c.name for c in corpusbot.tree.get_commands()}

    assert set(corpusbot.extensions) == set(EXTENSIONS)
    assert {"ask", "help", "subscribe", "unsubscribe", "subscriptions", "digest"} <= names
    assert {name.split()[0] for name in ADMIN_COMMANDS} <= names
    # The payload a sync would send (and fingerprint) serialises.
    payload = [c.to_dict(corpusbot.tree) for c in corpusbot.tree.get_commands()]
    assert json.loads(json.dumps(payload, sort_keys=True)) == payload


async def test_no_two_commands_share_a_name(corpusbot: CorpusBot) -> None:
    names = [c.qualified_name for c in all_commands(corpusbot)]

    assert len(names) == len(set(names)), sorted(names)


async def test_every_command_and_option_has_a_description(corpusbot: CorpusBot) -> None:
    for cmd in all_commands(corpusbot):
        assert cmd.description and cmd.description != "…", f"/{cmd.qualified_name}"
        assert len(cmd.description) <= 100, f"/{cmd.qualified_name}"
        if isinstance(cmd, app_commands.Command):
            for param in cmd.parameters:
                assert param.description and param.description != "…", (
                    f"/{cmd.qualified_name} {param.name}"
                )


@pytest.mark.parametrize("name", ["subscribe", "unsubscribe"])
async def test_subscription_commands_need_manage_channels_in_a_server(
    corpusbot: CorpusBot, name: str
) -> None:
    cmd = command(corpusbot, name)

    assert cmd.default_permissions is not None
    assert cmd.default_permissions.manage_channels
    assert cmd.guild_only
    assert option(corpusbot, name, "topic")["max_length"] == MAX_TOPIC_CHARS


@pytest.mark.parametrize("name", ADMIN_COMMANDS)
async def test_admin_commands_are_checked_server_side(corpusbot: CorpusBot, name: str) -> None:
    cmd = command(corpusbot, name)
    assert cmd.checks, f"/{name} relies on default_permissions alone"

    async def allowed(user_id: int) -> bool:
        interaction = SimpleNamespace(client=corpusbot, user=SimpleNamespace(id=user_id))
        try:
            return all([await check(interaction) for check in cmd.checks])
        except app_commands.CheckFailure:
            return False

    assert await allowed(ADMIN_ID)
    assert await allowed(OWNER_ID)
    assert not await allowed(7)


async def test_the_ask_question_is_limited_to_300_characters(corpusbot: CorpusBot) -> None:
    question = option(corpusbot, "ask", "question")

    assert question["required"] is True
    assert question["max_length"] == MAX_QUESTION_CHARS == 300
    assert question["min_length"] == 1


async def test_synonyms_are_for_server_managers_and_bounded(corpusbot: CorpusBot) -> None:
    group = corpusbot.tree.get_command("synonyms")
    assert isinstance(group, app_commands.Group)
    assert group.default_permissions is not None and group.default_permissions.manage_guild
    options = command(corpusbot, "synonyms add").to_dict(corpusbot.tree)["options"]
    names = next(o for o in options if o["name"] == "names")
    assert names["max_length"] == MAX_SYNONYM_LINE


# --- work in flight, for shutdown --------------------------------------------------


async def test_the_tree_hook_marks_every_command_and_autocomplete_in_flight(
    corpusbot: CorpusBot,
) -> None:
    """One hook on the command tree, not a per-handler opt-in: whatever the command
    (/help, /subscriptions, /stats, /sync ... or an autocomplete), its task is in
    flight until it ends; once shutdown began, commands are refused with the
    restarting message and autocompletes get nothing."""
    import asyncio

    import discord

    from bot.app import CorpusTree

    tree = corpusbot.tree
    assert isinstance(tree, CorpusTree)
    release = asyncio.Event()
    seen: list[bool] = []

    async def a_command(kind: discord.InteractionType) -> None:
        assert await tree.interaction_check(SimpleNamespace(type=kind))  # type: ignore[arg-type]
        seen.append(asyncio.current_task() in corpusbot._inflight)
        await release.wait()

    tasks = [
        asyncio.create_task(a_command(kind))
        for kind in (
            discord.InteractionType.application_command,
            discord.InteractionType.autocomplete,
        )
    ]
    await asyncio.sleep(0.05)
    assert seen == [True, True] and len(corpusbot._inflight) == 2
    release.set()
    await asyncio.gather(*tasks)
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert not corpusbot._inflight, "finished work stays in flight"

    corpusbot.closing = True
    command = SimpleNamespace(type=discord.InteractionType.application_command)
    with pytest.raises(app_commands.CheckFailure, match="restarting"):
        await tree.interaction_check(command)  # type: ignore[arg-type]
    autocomplete = SimpleNamespace(type=discord.InteractionType.autocomplete)
    assert await tree.interaction_check(autocomplete) is False  # type: ignore[arg-type]
    assert not corpusbot._inflight


async def test_buttons_and_the_reason_modal_are_marked_in_flight(corpusbot: CorpusBot) -> None:
    import asyncio

    from bot.exts.ask import ReasonModal, VoteButton
    from bot.inflight import TrackedItem

    assert issubclass(VoteButton, TrackedItem) and issubclass(ReasonModal, TrackedItem)
    modal = ReasonModal(1)
    interaction = SimpleNamespace(client=corpusbot)

    async def submit() -> bool:
        allowed = await modal.interaction_check(interaction)  # type: ignore[arg-type]
        assert asyncio.current_task() in corpusbot._inflight
        return allowed

    assert await asyncio.create_task(submit())
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert not corpusbot._inflight


def test_the_admin_check_lives_in_its_own_module_and_the_cogs_use_it() -> None:
    source = {m.__name__: inspect.getsource(m) for m in extension_modules()}
    for name in ("bot.exts.admin", "bot.exts.synonyms"):
        assert "from bot.admins import admin_only" in source[name]
    assert not any("\nfrom bot.app import" in text for text in source.values())  # type-only ok
    assert not any("bot.work()" in text for text in source.values()), "per-handler opt-in"
