"""A local stand-in for Discord's REST API and gateway, for end-to-end tests.

``FakeDiscord`` runs an aiohttp server on 127.0.0.1 that speaks enough of Discord's
HTTP API (v10) and gateway protocol for an unpatched discord.py 2.7 client to log in,
receive READY and GUILD_CREATE, sync application commands, receive interactions and
answer them, post and edit messages, survive rate limits and server errors, and
RESUME or re-IDENTIFY after reconnects. Every request is recorded so tests can
assert what the bot did, and faults can be injected per route.

Pointing discord.py at the stand-in
-----------------------------------
discord.py builds every REST URL, including interaction callbacks and webhook
followups, from the class attribute ``discord.http.Route.BASE`` at the moment a
``Route`` is created, so assigning it before ``login()`` redirects all REST traffic::

    discord.http.Route.BASE = "http://127.0.0.1:PORT/api/v10"   # DISCORD_API_BASE

``AutoShardedClient`` (and so ``AutoShardedBot``) then takes the gateway URL from the
stand-in's ``GET /gateway/bot`` answer for its first connection, and after READY
resumes at the ``resume_gateway_url`` the stand-in sends. Two code paths in
discord.py ignore both and connect to the class attribute
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (``wss://gateway.discord.gg/``):
the re-IDENTIFY after a non-resumable INVALID_SESSION (op 9) and ``Shard.reconnect``
after a connection error that is not a resumable close. A plain ``Client`` always
uses it. So a process that must keep working against the stand-in also sets::

    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

where ``gateway_url`` is the ``url`` field of ``GET {api_base}/gateway/bot``
(``http.get_bot_gateway()``); for this stand-in it is always
``ws://127.0.0.1:PORT/gateway``. ``FakeDiscord.redirect_discord_py()`` does both for
in-process clients and restores the previous values afterwards. Proxies do not
help: discord.py talks HTTPS to discord.com, which a plain HTTP proxy cannot answer.

Protocol notes (discord.py 2.7.1)
---------------------------------
* Bodies are parsed as JSON only when ``Content-Type`` is exactly
  ``application/json``; every JSON answer here sets that header and no charset.
* The gateway URL gets ``?v=10&encoding=json&compress=zlib-stream`` (``zstd-stream``
  when ``zstandard`` or ``compression.zstd`` is importable). zlib-stream frames share
  one compressor per connection and end each message with a Z_SYNC_FLUSH; zstd frames
  are block-flushed. Unknown or absent ``compress`` values get plain text frames.
* Interaction callbacks are ``POST /interactions/{id}/{token}/callback?with_response=1``
  and are answered with ``{"interaction": {...}, "resource": {...}}``; discord.py
  stores a view sent with the reply under ``interaction.response_message_id``.
* A 429 is honoured only with a ``Via`` header and a JSON body carrying
  ``retry_after``; 5xx answers are retried after 1 + 2 * attempt seconds, five tries
  in all.

Like Discord, the stand-in answers a second callback for one interaction with 400
(code 40060), a callback later than ``callback_deadline`` (3 s) with 404 (10062),
a followup before any callback with 404 (10015), and a channel post the bot's
permissions (roles plus channel overwrites) do not allow with 403 (50013).
"""

# Every wait helper takes a default timeout so that no test can hang on a missing event.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import itertools
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

try:
    import zstandard as _zstd
except ImportError:
    _zstd = None

log = logging.getLogger(__name__)

DISCORD_EPOCH_MS = 1_420_070_400_000
API_PREFIX = "/api/v10"

# Permission bits used by the model; values follow Discord's documentation.
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1

EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS | EMBED_LINKS
)
DEFAULT_BOT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | SEND_MESSAGES_IN_THREADS
)

EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7

# Interaction types and callback types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

_OPTION_TYPES_BY_PYTHON = ((bool, 5), (int, 4), (float, 10), (str, 3))
_snowflake_counter = itertools.count()


def snowflake() -> int:
    """Return a new, unique, time-ordered Discord snowflake."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_snowflake_counter) & 0x3FFFFF)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _perm_value(value: Any) -> int:
    """Accept an int or anything with ``.value`` (such as ``discord.Permissions``)."""
    return int(getattr(value, "value", value))


def make_token(user_id: int) -> str:
    """A string shaped like a bot token: base64 user id, timestamp, signature."""
    head = base64.b64encode(str(user_id).encode()).decode().rstrip("=")
    return f"{head}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(28)[:38]}"


def make_user(username: str, *, user_id: int | None = None, bot: bool = False) -> dict[str, Any]:
    """Build a user payload as Discord sends it."""
    return {
        "id": str(user_id or snowflake()),
        "username": username,
        "discriminator": "0",
        "global_name": None if bot else username.title(),
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


@dataclass
class FakeRole:
    name: str
    permissions: int = 0
    id: int = field(default_factory=snowflake)
    position: int = 1
    managed: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class FakeChannel:
    """A guild channel. ``overwrites`` maps a role or user id to (allow, deny, type)."""

    name: str
    type: int = 0
    id: int = field(default_factory=snowflake)
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    overwrites: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    guild_id: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id) if self.guild_id else None,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [
                {"id": str(target), "type": kind, "allow": str(allow), "deny": str(deny)}
                for target, (allow, deny, kind) in self.overwrites.items()
            ],
            "topic": self.topic,
            "nsfw": False,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }


@dataclass
class FakeMember:
    user: dict[str, Any]
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=_now_iso)

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def to_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user
        return payload


@dataclass
class FakeGuild:
    """A guild with text channels, roles and members.

    ``channels`` may hold names; each becomes a text channel. The @everyone role
    (id == guild id) gets ``everyone_permissions``; the bot joins with a managed role
    holding ``bot_permissions`` once the guild is handed to ``FakeDiscord``.
    """

    name: str = "Test Guild"
    channels: list[FakeChannel | str] = field(default_factory=lambda: ["general", "news"])
    roles: list[FakeRole] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS
    everyone_permissions: int = EVERYONE_PERMISSIONS
    id: int = field(default_factory=snowflake)
    owner_id: int | None = None
    bot_role_id: int | None = None
    # Where Discord posts join and boost messages; a channel name or id, or None.
    system_channel: int | str | None = None

    def __post_init__(self) -> None:
        self.bot_permissions = _perm_value(self.bot_permissions)
        self.everyone_permissions = _perm_value(self.everyone_permissions)
        channels: list[FakeChannel] = []
        for position, channel in enumerate(self.channels):
            if isinstance(channel, str):
                channel = FakeChannel(name=channel, position=position)
            channel.guild_id = self.id
            channels.append(channel)
        self.channels = list(channels)
        if not any(r.id == self.id for r in self.roles):
            everyone = FakeRole("@everyone", self.everyone_permissions, id=self.id, position=0)
            self.roles.insert(0, everyone)
        if not self.members:
            self.members.append(FakeMember(make_user("tester")))
        if self.owner_id is None:
            self.owner_id = self.members[0].id
        if self.system_channel is not None:
            self.system_channel = self.channel(self.system_channel).id

    @property
    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels if isinstance(c, FakeChannel) and c.type == 0]

    def channel(self, key: int | str) -> FakeChannel:
        """Look a channel up by id or name."""
        for c in self.channels:
            assert isinstance(c, FakeChannel)
            if c.id == key or c.name == key:
                return c
        raise KeyError(key)

    def role(self, key: int | str) -> FakeRole:
        for r in self.roles:
            if r.id == key or r.name == key:
                return r
        raise KeyError(key)

    def member(self, user_id: int) -> FakeMember:
        for m in self.members:
            if m.id == user_id:
                return m
        raise KeyError(user_id)

    def _attach_bot(self, bot_user: dict[str, Any]) -> None:
        if self.bot_role_id is None:
            role = FakeRole(bot_user["username"], self.bot_permissions, managed=True, position=1)
            self.roles.append(role)
            self.bot_role_id = role.id
        if not any(m.id == int(bot_user["id"]) for m in self.members):
            self.members.append(FakeMember(bot_user, roles=[self.bot_role_id]))

    def base_permissions(self, member: FakeMember) -> int:
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.role(self.id).permissions
        for role_id in member.roles:
            perms |= self.role(role_id).permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_in(self, member: FakeMember, channel: FakeChannel) -> int:
        """Compute a member's permissions in a channel the way Discord does."""
        perms = self.base_permissions(member)
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        if self.id in channel.overwrites:
            allow, deny, _ = channel.overwrites[self.id]
            perms = (perms & ~deny) | allow
        allow_roles = deny_roles = 0
        for role_id in member.roles:
            if role_id in channel.overwrites:
                allow, deny, _ = channel.overwrites[role_id]
                allow_roles |= allow
                deny_roles |= deny
        perms = (perms & ~deny_roles) | allow_roles
        if member.id in channel.overwrites:
            allow, deny, _ = channel.overwrites[member.id]
            perms = (perms & ~deny) | allow
        return perms

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "system_channel_id": str(self.system_channel) if self.system_channel else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "preferred_locale": "en-US",
            "vanity_url_code": None,
            "features": [],
            "roles": [r.to_payload() for r in self.roles],
            "emojis": [],
            "stickers": [],
        }

    def to_gateway_payload(self) -> dict[str, Any]:
        payload = self.to_payload()
        payload.update(
            {
                "joined_at": _now_iso(),
                "large": False,
                "unavailable": False,
                "member_count": len(self.members),
                "members": [m.to_payload() for m in self.members],
                "channels": [c.to_payload() for c in self.channels if isinstance(c, FakeChannel)],
                "threads": [],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return payload


@dataclass
class RecordedRequest:
    """One HTTP request as the stand-in saw it; ``path`` excludes the /api/v10 prefix."""

    index: int
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    time: float
    status: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    peer: tuple[str, int] | None = None  # the client's address and port


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    retry_after: float | None
    body: Any
    is_global: bool


@dataclass
class InteractionRecord:
    """An interaction sent to the bot, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    guild_id: int | None
    channel_id: int | None
    user_id: int
    created_at: float
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    first_callback_at: float | None = None
    original: dict[str, Any] | None = None
    followups: list[dict[str, Any]] = field(default_factory=list)
    original_edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def response(self) -> dict[str, Any] | None:
        """The first callback body the bot posted (``{"type": ..., "data": ...}``)."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def ack_seconds(self) -> float | None:
        """Seconds from the interaction's creation to the bot's first callback request,
        in time or not (what Discord holds to its 3 s deadline); None before any."""
        if self.first_callback_at is None:
            return None
        return self.first_callback_at - self.created_at

    @property
    def response_type(self) -> int | None:
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def response_data(self) -> dict[str, Any]:
        return (self.callbacks[0].get("data") or {}) if self.callbacks else {}

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.response_data.get("flags") or 0) & EPHEMERAL_FLAG)

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete choices the bot returned."""
        if self.response_type != AUTOCOMPLETE_RESULT:
            return []
        return list(self.response_data.get("choices") or [])


@dataclass
class _Session:
    id: str
    shard_id: int
    shard_count: int
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    conn: _GatewayConnection | None = None


class _GatewayConnection:
    """One websocket, its compression context and the session bound to it."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, compress: str) -> None:
        self.ws = ws
        self.request = request
        self.path = request.path
        self.compress = compress
        self.session: _Session | None = None
        self.received: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = (
            _zstd.ZstdCompressor().compressobj()
            if compress == "zstd-stream" and _zstd is not None
            else None
        )

    @property
    def open(self) -> bool:
        transport = self.request.transport
        return not self.ws.closed and transport is not None and not transport.is_closing()

    async def send(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload, separators=(",", ":")).encode()
        async with self._lock:
            if self._zlib is not None:
                await self.ws.send_bytes(
                    self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                )
            elif self._zstd is not None:
                flush = _zstd.COMPRESSOBJ_FLUSH_BLOCK
                await self.ws.send_bytes(self._zstd.compress(raw) + self._zstd.flush(flush))
            else:
                await self.ws.send_str(raw.decode())


class _Json(Exception):
    """Raised inside a handler to answer with a status and a JSON body at once."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    out = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=out)


def _error(status: int, code: int, message: str) -> _Json:
    return _Json(status, {"message": message, "code": code})


def _resolve_attachment_urls(
    embeds: Sequence[Mapping[str, Any]], attachments: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Embeds with ``attachment://NAME`` image, thumbnail, author and footer icon URLs
    replaced by the uploaded file's URL, as Discord returns them ("Uploading Files:
    Using Attachments within Embeds" in its API reference)."""
    urls = {f"attachment://{a['filename']}": a["url"] for a in attachments}
    resolved = []
    for embed in embeds:
        embed = json.loads(json.dumps(embed))
        for key, url_key in (
            ("image", "url"),
            ("thumbnail", "url"),
            ("author", "icon_url"),
            ("footer", "icon_url"),
        ):
            part = embed.get(key)
            if isinstance(part, dict) and part.get(url_key) in urls:
                part["proxy_url"] = part[url_key] = urls[part[url_key]]
        resolved.append(embed)
    return resolved


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)


class FakeDiscord:
    """Discord's REST API and gateway on 127.0.0.1, with recording and fault injection.

    Use as ``async with FakeDiscord(...) as fd:``; the server listens on an ephemeral
    port (``fd.port``) and serves REST under ``fd.api_base`` and the gateway at
    ``fd.gateway_url``.
    """

    def __init__(
        self,
        *,
        app_id: int | None = None,
        bot_user: dict[str, Any] | str = "corpusbot",
        guilds: Sequence[FakeGuild] | None = None,
        shard_count: int = 1,
        heartbeat_interval: float = 41.25,
        callback_deadline: float | None = 3.0,
        token: str | None = None,
    ) -> None:
        self.app_id = app_id or snowflake()
        if isinstance(bot_user, str):
            bot_user = make_user(bot_user, user_id=self.app_id, bot=True)
        self.bot_user = bot_user
        self.bot_user_id = int(bot_user["id"])
        self.guilds: list[FakeGuild] = list(guilds) if guilds is not None else [FakeGuild()]
        for guild in self.guilds:
            guild._attach_bot(bot_user)
        self.shard_count = shard_count
        self.heartbeat_interval = heartbeat_interval
        self.callback_deadline = callback_deadline
        self.token = token

        self.requests: list[RecordedRequest] = []
        self.gateway_log: list[tuple[str, dict[str, Any]]] = []
        self.identify_count = 0
        self.resume_count = 0
        self.connection_paths: list[str] = []
        self.connection_compression: list[str] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.dm_channels: dict[int, dict[str, Any]] = {}

        self._channel_messages: dict[int, list[int]] = {}
        # nonce -> (message id, when created); repeats within the window are deduplicated
        self._nonces: dict[tuple[str, str], tuple[int, float]] = {}
        self.nonce_window = 300.0
        self.nonce_repeats = 0
        # called with each message created through REST, before the response is sent;
        # ``creating`` is that request meanwhile (its ``peer`` tells who posted)
        self.after_message_created: Callable[[dict[str, Any]], Any] | None = None
        self.creating: RecordedRequest | None = None
        self._faults: list[Fault] = []
        self._sessions: dict[str, _Session] = {}
        self._current: dict[int, _Session] = {}
        self._connections: list[_GatewayConnection] = []
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._routes = self._build_routes()
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the server on 127.0.0.1 with an ephemeral port."""
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-resume", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]
        log.debug("fake discord listening on %s", self.port)

    async def close(self) -> None:
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE`` (and ``DISCORD_API_BASE``)."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway-resume"

    @contextlib.contextmanager
    def redirect_discord_py(self) -> Iterator[None]:
        """Point this process's discord.py at the stand-in, restoring it on exit."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ------------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(
        self, predicate: Callable[[], Any], timeout: float = 5.0, *, poll: float = 0.02
    ) -> Any:
        """Wait until ``predicate()`` is truthy and return its value.

        The predicate is re-checked on every change in the stand-in and every ``poll``
        seconds, so it may also look at the bot's own state (its cache, say).
        """
        changed = self._changed
        assert changed is not None, "FakeDiscord is not started"
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                async with changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), poll)
            return result

    def cursor(self) -> int:
        """Index of the next request; pass as ``after=`` to ignore earlier ones."""
        return len(self.requests)

    def find_requests(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        *,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        after: int = 0,
    ) -> list[RecordedRequest]:
        """Requests whose method matches and whose path fully matches the regex."""
        regex = _compile(path_pattern)
        return [
            r
            for r in self.requests[after:]
            if r.method == method.upper()
            and regex.fullmatch(r.path)
            and (predicate is None or predicate(r))
        ]

    def count_requests(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        *,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        after: int = 0,
        status: int | None = None,
    ) -> int:
        found = self.find_requests(method, path_pattern, predicate=predicate, after=after)
        return sum(1 for r in found if status is None or r.status == status)

    async def wait_for_request(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        *,
        timeout: float = 5.0,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        after: int = 0,
    ) -> RecordedRequest:
        """Return the first matching request at index >= ``after`` that has been answered."""

        def check() -> RecordedRequest | None:
            found = self.find_requests(method, path_pattern, predicate=predicate, after=after)
            done = [r for r in found if r.status]
            return done[0] if done else None

        return await self.wait_until(check, timeout)

    async def wait_until_identified(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until READY has been sent for ``count`` IDENTIFYs in total."""
        await self.wait_until(lambda: self.identify_count >= count, timeout)

    async def wait_until_resumed(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until RESUMED has been sent for ``count`` RESUMEs in total."""
        await self.wait_until(lambda: self.resume_count >= count, timeout)

    async def wait_for_interaction_response(
        self, interaction: InteractionRecord, timeout: float = 5.0
    ) -> InteractionRecord:
        """Wait for the bot's callback to ``interaction``; returns the updated record."""
        await self.wait_until(lambda: interaction.callbacks, timeout)
        return interaction

    async def wait_for_followups(
        self, interaction: InteractionRecord, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        await self.wait_until(lambda: len(interaction.followups) >= count, timeout)
        return interaction.followups

    async def wait_for_original_edit(
        self, interaction: InteractionRecord, count: int = 1, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Wait for ``count`` edits of the original response; returns the current message."""
        await self.wait_until(lambda: len(interaction.original_edits) >= count, timeout)
        assert interaction.original is not None
        return interaction.original

    # ------------------------------------------------------------------ faults

    def inject_fault(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        body: Any = None,
        is_global: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``; faults queue in order.

        A 429 carries a ``Via`` header and ``{"retry_after", "global"}`` as Discord's
        does, so discord.py waits and retries it.
        """
        self._faults.append(
            Fault(
                method.upper(),
                _compile(path_pattern),
                status,
                times,
                retry_after,
                body,
                is_global,
            )
        )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method == method and fault.pattern.fullmatch(path):
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        headers: dict[str, str] = {}
        body = fault.body
        if fault.status == 429:
            retry_after = 0.1 if fault.retry_after is None else fault.retry_after
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(retry_after))),
                "X-RateLimit-Scope": "global" if fault.is_global else "user",
            }
            if fault.is_global:
                headers["X-RateLimit-Global"] = "true"
            if body is None:
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": fault.is_global,
                }
        elif body is None:
            body = {
                403: {"message": "Missing Permissions", "code": 50013},
                404: {"message": "Unknown Channel", "code": 10003},
            }.get(fault.status, {"message": f"{fault.status}: fault", "code": 0})
        return _json_response(fault.status, body, headers)

    # ------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        record = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=path,
            query=dict(request.query),
            json=None,
            headers=dict(request.headers),
            time=time.monotonic(),
        )
        if request.transport is not None:
            peer = request.transport.get_extra_info("peername")
            record.peer = (str(peer[0]), int(peer[1])) if peer else None
        self.requests.append(record)
        try:
            await self._read_body(request, record)
            fault = self._take_fault(request.method, path)
            if fault is not None:
                response = self._fault_response(fault)
            else:
                response = await self._route(request.method, path, record)
        except _Json as exc:
            response = _json_response(exc.status, exc.body)
        record.status = response.status
        await self._notify()
        return response

    @staticmethod
    async def _read_body(request: web.Request, record: RecordedRequest) -> None:
        if not request.body_exists:
            return
        ctype = request.content_type
        if ctype == "application/json":
            record.json = await request.json()
        elif ctype.startswith("multipart/"):
            form = await request.post()
            for name, value in form.items():
                if name == "payload_json":
                    record.json = json.loads(str(value))
                elif hasattr(value, "file"):
                    data = value.file.read()
                    record.files.append(
                        {
                            "field": name,
                            "filename": value.filename,
                            "size": len(data),
                            "content_type": value.content_type,
                            "data": data,
                        }
                    )
        else:
            text = await request.text()
            with contextlib.suppress(ValueError):
                record.json = json.loads(text) if text else None

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any]]]:
        s = r"(\d+)"
        t = r"([^/]+)"
        table: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/users/@me", lambda r: self.bot_user),
            ("GET", f"/users/{s}", self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/oauth2/applications/@me", lambda r: self.application_payload()),
            ("GET", "/applications/@me", lambda r: self.application_payload()),
            ("GET", f"/applications/{s}/commands", self._get_commands),
            ("PUT", f"/applications/{s}/commands", self._put_commands),
            ("POST", f"/applications/{s}/commands", self._upsert_command),
            ("DELETE", f"/applications/{s}/commands/{s}", self._delete_command),
            ("GET", f"/applications/{s}/guilds/{s}/commands", self._get_commands),
            ("PUT", f"/applications/{s}/guilds/{s}/commands", self._put_commands),
            ("POST", f"/applications/{s}/guilds/{s}/commands", self._upsert_command),
            ("DELETE", f"/applications/{s}/guilds/{s}/commands/{s}", self._delete_command),
            ("POST", f"/interactions/{s}/{t}/callback", self._interaction_callback),
            ("POST", f"/webhooks/{s}/{t}", self._followup),
            ("GET", f"/webhooks/{s}/{t}/messages/{t}", self._get_webhook_message),
            ("PATCH", f"/webhooks/{s}/{t}/messages/{t}", self._edit_webhook_message),
            ("DELETE", f"/webhooks/{s}/{t}/messages/{t}", self._delete_webhook_message),
            ("GET", f"/channels/{s}", self._get_channel),
            ("GET", f"/channels/{s}/messages", self._list_messages),
            ("POST", f"/channels/{s}/messages", self._create_message),
            ("GET", f"/channels/{s}/messages/{s}", self._get_message),
            ("PATCH", f"/channels/{s}/messages/{s}", self._edit_message),
            ("DELETE", f"/channels/{s}/messages/{s}", self._delete_message),
            ("POST", f"/channels/{s}/typing", lambda r, c: None),
            ("PUT", f"/channels/{s}/messages/{s}/reactions/{t}/@me", self._react),
            ("DELETE", f"/channels/{s}/messages/{s}/reactions/{t}/@me", self._react),
            ("GET", f"/guilds/{s}", self._get_guild),
            ("GET", f"/guilds/{s}/channels", self._get_guild_channels),
            ("GET", f"/guilds/{s}/roles", self._get_guild_roles),
            ("GET", f"/guilds/{s}/members", self._list_members),
            ("GET", f"/guilds/{s}/members/{s}", self._get_member),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    async def _route(self, method: str, path: str, record: RecordedRequest) -> web.Response:
        allowed = False
        for route_method, regex, handler in self._routes:
            match = regex.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                allowed = True
                continue
            result = handler(record, *match.groups())
            if asyncio.iscoroutine(result):
                result = await result
            if isinstance(result, web.Response):
                return result
            return _json_response(204 if result is None else 200, result)
        if allowed:
            return _json_response(405, {"message": "405: Method Not Allowed", "code": 0})
        return _json_response(404, {"message": "404: Not Found", "code": 0})

    # --- model lookups

    def guild(self, guild_id: int | None = None) -> FakeGuild:
        """The guild with ``guild_id``, or the first guild."""
        if guild_id is None:
            return self.guilds[0]
        for g in self.guilds:
            if g.id == int(guild_id):
                return g
        raise _error(404, 10004, "Unknown Guild")

    def _find_channel(self, channel_id: int) -> tuple[FakeGuild | None, FakeChannel | None]:
        for g in self.guilds:
            for c in g.channels:
                assert isinstance(c, FakeChannel)
                if c.id == channel_id:
                    return g, c
        return None, None

    def _channel_payload(self, channel_id: int) -> dict[str, Any]:
        _, channel = self._find_channel(channel_id)
        if channel is not None:
            return channel.to_payload()
        if channel_id in self.dm_channels:
            return self.dm_channels[channel_id]
        raise _error(404, 10003, "Unknown Channel")

    def _bot_member(self, guild: FakeGuild) -> FakeMember:
        return guild.member(self.bot_user_id)

    def bot_permissions_in(self, channel_id: int) -> int:
        """The bot's computed permissions in a channel (what Discord would enforce)."""
        guild, channel = self._find_channel(int(channel_id))
        if guild is None or channel is None:
            return ALL_PERMISSIONS
        return guild.permissions_in(self._bot_member(guild), channel)

    def _require(self, channel_id: int, *bits: int) -> None:
        perms = self.bot_permissions_in(channel_id)
        for bit in bits:
            if not perms & bit:
                raise _error(403, 50013, "Missing Permissions")

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.app_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": make_user("owner", user_id=self.guilds[0].owner_id or snowflake()),
            "team": None,
            "flags": 0,
            "bot": self.bot_user,
            "summary": "",
        }

    # --- gateway info, users, guilds, channels

    def _get_gateway(self, record: RecordedRequest) -> dict[str, Any]:
        return {"url": self.gateway_url}

    def _get_gateway_bot(self, record: RecordedRequest) -> dict[str, Any]:
        return {
            "url": self.gateway_url,
            "shards": self.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    def _get_user(self, record: RecordedRequest, user_id: str) -> dict[str, Any]:
        for g in self.guilds:
            for m in g.members:
                if m.id == int(user_id):
                    return m.user
        raise _error(404, 10013, "Unknown User")

    def _create_dm(self, record: RecordedRequest) -> dict[str, Any]:
        recipient = self._get_user(record, str(record.json["recipient_id"]))
        for channel in self.dm_channels.values():
            if channel["recipients"][0]["id"] == recipient["id"]:
                return channel
        channel = {
            "id": str(snowflake()),
            "type": 1,
            "recipients": [recipient],
            "last_message_id": None,
        }
        self.dm_channels[int(channel["id"])] = channel
        return channel

    def _get_guild(self, record: RecordedRequest, guild_id: str) -> dict[str, Any]:
        guild = self.guild(int(guild_id))
        payload = guild.to_payload()
        payload["approximate_member_count"] = len(guild.members)
        return payload

    def _get_guild_channels(self, record: RecordedRequest, guild_id: str) -> list[dict[str, Any]]:
        return [
            c.to_payload() for c in self.guild(int(guild_id)).channels if isinstance(c, FakeChannel)
        ]

    def _get_guild_roles(self, record: RecordedRequest, guild_id: str) -> list[dict[str, Any]]:
        return [r.to_payload() for r in self.guild(int(guild_id)).roles]

    def _list_members(self, record: RecordedRequest, guild_id: str) -> list[dict[str, Any]]:
        return [m.to_payload() for m in self.guild(int(guild_id)).members]

    def _get_member(self, record: RecordedRequest, guild_id: str, user_id: str) -> dict[str, Any]:
        try:
            return self.guild(int(guild_id)).member(int(user_id)).to_payload()
        except KeyError:
            raise _error(404, 10007, "Unknown Member") from None

    def _get_channel(self, record: RecordedRequest, channel_id: str) -> dict[str, Any]:
        return self._channel_payload(int(channel_id))

    # --- messages

    def _new_message(
        self,
        channel_id: int,
        body: Mapping[str, Any] | None,
        *,
        author: dict[str, Any] | None = None,
        msg_type: int = 0,
        extra: Mapping[str, Any] | None = None,
        files: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        body = body or {}
        guild, _ = self._find_channel(channel_id)
        attachments = [
            {
                "id": str(snowflake()),
                "filename": f["filename"],
                "size": f["size"],
                "content_type": f.get("content_type"),
                "url": f"{self.base_url}/attachments/{f['filename']}",
                "proxy_url": f"{self.base_url}/attachments/{f['filename']}",
            }
            for f in files
        ]
        message: dict[str, Any] = {
            "id": str(snowflake()),
            "type": msg_type,
            "channel_id": str(channel_id),
            "author": author or self.bot_user,
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": _resolve_attachment_urls(body.get("embeds") or [], attachments),
            "components": list(body.get("components") or []),
            "pinned": False,
            "flags": int(body.get("flags") or 0),
            "nonce": body.get("nonce"),
            "allowed_mentions": body.get("allowed_mentions"),
        }
        if body.get("message_reference"):
            message["message_reference"] = {
                "type": 0,
                "channel_id": str(channel_id),
                **body["message_reference"],
            }
        if guild is not None:
            message["guild_id"] = str(guild.id)
            if author is None:
                message["member"] = self._bot_member(guild).to_payload(with_user=False)
        if extra:
            message.update(extra)
        self.messages[int(message["id"])] = message
        if not message["flags"] & EPHEMERAL_FLAG:
            self._channel_messages.setdefault(channel_id, []).append(int(message["id"]))
        return message

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages visible in a channel, oldest first (ephemeral replies are not)."""
        ids = self._channel_messages.get(int(channel_id), [])
        return [self.messages[i] for i in ids if i in self.messages]

    def add_user_message(
        self, channel_id: int, content: str, *, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Store a message from a user (not sent to the bot; use ``dispatch`` for that)."""
        guild, _ = self._find_channel(int(channel_id))
        author = user or (guild or self.guilds[0]).members[0].user
        return self._new_message(int(channel_id), {"content": content}, author=author)

    def _message_in(self, channel_id: int, message_id: int) -> dict[str, Any]:
        message = self.messages.get(message_id)
        if message is None or int(message["channel_id"]) != channel_id:
            raise _error(404, 10008, "Unknown Message")
        return message

    @staticmethod
    def _apply_edit(message: dict[str, Any], body: Mapping[str, Any] | None) -> None:
        for key in ("content", "embeds", "components", "flags", "allowed_mentions"):
            if body and key in body and body[key] is not None:
                message[key] = body[key]
        if body and body.get("flags") is not None:
            message["flags"] = int(body["flags"]) | (message["flags"] & EPHEMERAL_FLAG)
        message["flags"] = int(message.get("flags") or 0) & ~LOADING_FLAG
        message["edited_timestamp"] = _now_iso()

    async def _create_message(self, record: RecordedRequest, channel_id: str) -> dict[str, Any]:
        cid = int(channel_id)
        self._channel_payload(cid)
        self._require(cid, VIEW_CHANNEL, SEND_MESSAGES)
        body = record.json or {}
        if body.get("embeds"):
            self._require(cid, EMBED_LINKS)
        if record.files:
            self._require(cid, ATTACH_FILES)
        if not (
            body.get("content") or body.get("embeds") or record.files or body.get("components")
        ):
            raise _error(400, 50006, "Cannot send an empty message")
        # enforce_nonce: a nonce the same author used within the window returns the
        # message it created instead of creating another, as Discord does.
        nonce = body.get("nonce")
        key = (str(self.bot_user_id), str(nonce))
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get(key)
            if seen is not None and time.monotonic() - seen[1] <= self.nonce_window:
                self.nonce_repeats += 1
                return self.messages[seen[0]]
        message = self._new_message(cid, body, files=record.files)
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[key] = (int(message["id"]), time.monotonic())
        if self.after_message_created is not None:
            # e.g. kill the poster here: created, but the response never arrives
            self.creating = record
            try:
                result = self.after_message_created(message)
                if asyncio.iscoroutine(result):
                    await result
            finally:
                self.creating = None
        return message

    def _list_messages(self, record: RecordedRequest, channel_id: str) -> list[dict[str, Any]]:
        cid = int(channel_id)
        self._channel_payload(cid)
        self._require(cid, VIEW_CHANNEL, READ_MESSAGE_HISTORY)
        limit = int(record.query.get("limit", 50))
        return list(reversed(self.channel_messages(cid)))[:limit]

    def _get_message(self, record: RecordedRequest, channel_id: str, message_id: str) -> Any:
        return self._message_in(int(channel_id), int(message_id))

    def _edit_message(self, record: RecordedRequest, channel_id: str, message_id: str) -> Any:
        message = self._message_in(int(channel_id), int(message_id))
        if int(message["author"]["id"]) != self.bot_user_id:
            raise _error(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(message, record.json)
        return message

    def _delete_message(self, record: RecordedRequest, channel_id: str, message_id: str) -> None:
        message = self._message_in(int(channel_id), int(message_id))
        self.messages.pop(int(message["id"]), None)

    def _react(self, record: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> None:
        self._message_in(int(channel_id), int(message_id))

    # --- application commands

    def _command_list(self, guild_id: str | None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.setdefault(int(guild_id), [])

    def _stored_command(self, body: Mapping[str, Any], guild_id: str | None) -> dict[str, Any]:
        command = dict(body)
        command.setdefault("type", 1)
        command.setdefault("description", "")
        command.setdefault("options", [])
        command["id"] = str(command.get("id") or snowflake())
        command["application_id"] = str(self.app_id)
        command["version"] = str(snowflake())
        command.setdefault("default_member_permissions", None)
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        return command

    def _get_commands(
        self, record: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list[dict[str, Any]]:
        return self._command_list(guild_id)

    def _put_commands(
        self, record: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list[dict[str, Any]]:
        if int(app_id) != self.app_id:
            raise _error(403, 20012, "You are not authorized to perform this action")
        old = {(c["name"], c.get("type", 1)): c["id"] for c in self._command_list(guild_id)}
        commands = []
        for body in record.json or []:
            key = (body["name"], body.get("type", 1))
            commands.append(self._stored_command({**body, "id": old.get(key)}, guild_id))
        if guild_id is None:
            self.global_commands = commands
        else:
            self.guild_commands[int(guild_id)] = commands
        return commands

    def _upsert_command(
        self, record: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> dict[str, Any]:
        commands = self._command_list(guild_id)
        body = record.json or {}
        for i, existing in enumerate(commands):
            if existing["name"] == body.get("name"):
                commands[i] = self._stored_command({**body, "id": existing["id"]}, guild_id)
                return commands[i]
        commands.append(self._stored_command(body, guild_id))
        return commands[-1]

    def _delete_command(self, record: RecordedRequest, app_id: str, *ids: str) -> None:
        guild_id, command_id = (ids[0], ids[1]) if len(ids) == 2 else (None, ids[0])
        commands = self._command_list(guild_id)
        commands[:] = [c for c in commands if c["id"] != command_id]

    def find_command(self, name: str, guild_id: int | None = None) -> dict[str, Any]:
        """A registered command by top-level name; guild commands win over global ones."""
        candidates = []
        if guild_id is not None:
            candidates.extend(self.guild_commands.get(int(guild_id), []))
        candidates.extend(self.global_commands)
        for command in candidates:
            if command["name"] == name:
                return command
        raise LookupError(f"command {name!r} was never registered; sync the command tree first")

    # --- interactions

    def _interaction_by_token(self, token: str) -> InteractionRecord:
        for interaction in self.interactions.values():
            if interaction.token == token:
                return interaction
        raise _error(404, 10015, "Unknown Webhook")

    def _interaction_message(
        self,
        interaction: InteractionRecord,
        body: Mapping[str, Any] | None,
        *,
        flags: int = 0,
        files: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        body = dict(body or {})
        body["flags"] = int(body.get("flags") or 0) | flags
        data = interaction.payload.get("data") or {}
        user = interaction.payload.get("member", {}).get("user") or interaction.payload.get("user")
        extra = {
            "webhook_id": str(self.app_id),
            "application_id": str(self.app_id),
            "interaction_metadata": {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": user,
                "authorizing_integration_owners": {"0": str(interaction.guild_id or 0)},
                "name": data.get("name"),
            },
        }
        msg_type = 20 if interaction.type == APPLICATION_COMMAND else 0
        channel_id = interaction.channel_id or 0
        return self._new_message(channel_id, body, msg_type=msg_type, extra=extra, files=files)

    async def _interaction_callback(
        self, record: RecordedRequest, interaction_id: str, token: str
    ) -> dict[str, Any]:
        interaction = self.interactions.get(int(interaction_id))
        if interaction is None or interaction.token != token:
            raise _error(404, 10062, "Unknown interaction")
        if interaction.first_callback_at is None:
            interaction.first_callback_at = time.monotonic()
        if interaction.callbacks:
            raise _error(400, 40060, "Interaction has already been acknowledged.")
        if (
            self.callback_deadline is not None
            and time.monotonic() - interaction.created_at > self.callback_deadline
        ):
            raise _error(404, 10062, "Unknown interaction")
        body = record.json or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        message: dict[str, Any] | None = None
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            loading = LOADING_FLAG if kind == DEFERRED_CHANNEL_MESSAGE else 0
            message = self._interaction_message(
                interaction, data, flags=loading, files=record.files
            )
            interaction.original = message
        elif kind in (UPDATE_MESSAGE, DEFERRED_UPDATE_MESSAGE):
            target = interaction.payload.get("message")
            stored = self.messages.get(int(target["id"])) if target else None
            if stored is not None and kind == UPDATE_MESSAGE:
                self._apply_edit(stored, data)
            message = stored
            interaction.original = stored
        elif kind not in (PONG, AUTOCOMPLETE_RESULT, MODAL):
            raise _error(400, 50035, "Invalid Form Body")
        interaction.callbacks.append(body)
        flags = int((message or {}).get("flags") or 0)
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "activity_instance_id": None,
                "response_message_id": message["id"] if message else None,
                "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(flags & EPHEMERAL_FLAG),
            }
        }
        if message is not None:
            answer["resource"] = {"type": kind, "message": message}
        return answer

    def _followup(self, record: RecordedRequest, app_id: str, token: str) -> Any:
        interaction = self._interaction_by_token(token)
        if not interaction.callbacks:
            raise _error(404, 10015, "Unknown Webhook")
        message = self._interaction_message(interaction, record.json, files=record.files)
        interaction.followups.append(message)
        return message if record.query.get("wait") in ("1", "true", "True") else None

    def _webhook_message(self, interaction: InteractionRecord, message_id: str) -> dict[str, Any]:
        if message_id == "@original":
            if interaction.original is None:
                raise _error(404, 10008, "Unknown Message")
            return interaction.original
        for message in [interaction.original, *interaction.followups]:
            if message is not None and message["id"] == message_id:
                return message
        raise _error(404, 10008, "Unknown Message")

    def _get_webhook_message(
        self, record: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> dict[str, Any]:
        return self._webhook_message(self._interaction_by_token(token), message_id)

    def _edit_webhook_message(
        self, record: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> dict[str, Any]:
        interaction = self._interaction_by_token(token)
        message = self._webhook_message(interaction, message_id)
        self._apply_edit(message, record.json)
        if message is interaction.original:
            interaction.original_edits.append(dict(record.json or {}))
        return message

    def _delete_webhook_message(
        self, record: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> None:
        interaction = self._interaction_by_token(token)
        message = self._webhook_message(interaction, message_id)
        self.messages.pop(int(message["id"]), None)

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress", "")
        if compress == "zstd-stream" and _zstd is None:
            compress = ""
        conn = _GatewayConnection(ws, request, compress)
        self._connections.append(conn)
        self.connection_paths.append(request.path)
        self.connection_compression.append(compress or "none")
        await self._notify()
        try:
            await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval * 1000}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                conn.received.append(payload)
                self.gateway_log.append(("recv", payload))
                await self._on_gateway_payload(conn, payload)
        except (ConnectionResetError, RuntimeError):
            log.debug("gateway connection to %s lost", request.path)
        finally:
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            self._connections.remove(conn)
            await self._notify()
        return ws

    async def _on_gateway_payload(self, conn: _GatewayConnection, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            await self._request_members(conn, data or {})

    def _guilds_for_shard(self, shard_id: int, shard_count: int) -> list[FakeGuild]:
        return [g for g in self.guilds if (g.id >> 22) % shard_count == shard_id]

    async def _identify(self, conn: _GatewayConnection, data: dict[str, Any]) -> None:
        if self.token is not None and data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard_id, shard_count = data.get("shard") or [0, 1]
        session = _Session(secrets.token_hex(16), shard_id, shard_count)
        self._sessions[session.id] = session
        self._current[shard_id] = session
        session.conn = conn
        conn.session = session
        guilds = self._guilds_for_shard(shard_id, shard_count)
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "shard": [shard_id, shard_count],
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
        }
        await self._send_event(session, "READY", ready)
        for guild in guilds:
            await self._send_event(session, "GUILD_CREATE", guild.to_gateway_payload())
        self.identify_count += 1
        await self._notify()

    async def _resume(self, conn: _GatewayConnection, data: dict[str, Any]) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if session is None:
            await conn.send({"op": 9, "d": False})
            return
        old = session.conn
        session.conn = conn
        conn.session = session
        self._current[session.shard_id] = session
        if old is not None and old is not conn:
            with contextlib.suppress(Exception):
                await old.ws.close(code=4000)
        last = int(data.get("seq") or 0)
        for event in session.events:
            if event["s"] > last:
                await conn.send(event)
        await self._send_event(session, "RESUMED", {})
        self.resume_count += 1
        await self._notify()

    async def _request_members(self, conn: _GatewayConnection, data: dict[str, Any]) -> None:
        if conn.session is None:
            return
        guild = self.guild(int(data["guild_id"]))
        chunk = {
            "guild_id": str(guild.id),
            "members": [m.to_payload() for m in guild.members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": data.get("nonce"),
        }
        await self._send_event(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_event(self, session: _Session, name: str, data: Any) -> None:
        session.seq += 1
        event = {"op": 0, "t": name, "s": session.seq, "d": data}
        session.events.append(event)
        self.gateway_log.append(("send", event))
        conn = session.conn
        if conn is not None and conn.open:
            try:
                await conn.send(event)
            except (ConnectionResetError, RuntimeError):
                log.debug("event %s buffered for resume", name)

    def _session_for(self, shard_id: int | None, guild_id: int | None) -> _Session:
        if shard_id is None:
            shard_id = 0 if guild_id is None else (int(guild_id) >> 22) % self.shard_count
        session = self._current.get(shard_id)
        if session is None:
            raise RuntimeError(f"shard {shard_id} has not identified")
        return session

    def _live_connection(self, shard_id: int) -> _GatewayConnection:
        session = self._session_for(shard_id, None)
        if session.conn is None or not session.conn.open:
            raise RuntimeError(f"shard {shard_id} has no open gateway connection")
        return session.conn

    async def dispatch(
        self,
        event: str,
        data: Any,
        *,
        shard_id: int | None = None,
        guild_id: int | None = None,
    ) -> None:
        """Send a DISPATCH event; it is buffered for RESUME when the socket is down."""
        if guild_id is None and isinstance(data, Mapping) and data.get("guild_id"):
            guild_id = int(data["guild_id"])
        await self._send_event(self._session_for(shard_id, guild_id), event, data)

    async def reconnect_request(self, shard_id: int = 0) -> None:
        """Send op 7 RECONNECT; discord.py closes and RESUMEs at resume_gateway_url."""
        await self._live_connection(shard_id).send({"op": 7, "d": None})

    async def invalid_session(self, resumable: bool = False, shard_id: int = 0) -> None:
        """Send op 9; a non-resumable one also forgets the session."""
        conn = self._live_connection(shard_id)
        if not resumable and conn.session is not None:
            self._sessions.pop(conn.session.id, None)
            self._current.pop(shard_id, None)
        await conn.send({"op": 9, "d": resumable})

    def drop_connection(self, shard_id: int = 0) -> None:
        """Abort the TCP connection under the gateway socket, without a close frame."""
        conn = self._live_connection(shard_id)
        if conn.session is not None:
            conn.session.conn = None
        transport = conn.request.transport
        if transport is not None:
            transport.abort()

    def shard_session(self, shard_id: int = 0) -> str | None:
        """The id of the shard's latest identified session, or None."""
        session = self._current.get(shard_id)
        return session.id if session is not None else None

    def gateway_connected(self, shard_id: int = 0) -> bool:
        session = self._current.get(shard_id)
        return bool(session and session.conn and session.conn.open)

    async def set_channel_overwrite(
        self,
        channel_id: int,
        target_id: int,
        *,
        allow: Any = 0,
        deny: Any = 0,
        target_type: int | None = None,
    ) -> None:
        """Set a permission overwrite and tell the bot with CHANNEL_UPDATE.

        ``target_id`` is a role id (the guild id for @everyone) or a user id such as
        ``fd.bot_user_id``; the type is inferred unless given (0 role, 1 member).
        """
        guild, channel = self._find_channel(int(channel_id))
        if guild is None or channel is None:
            raise KeyError(channel_id)
        if target_type is None:
            target_type = 0 if any(r.id == target_id for r in guild.roles) else 1
        channel.overwrites[int(target_id)] = (_perm_value(allow), _perm_value(deny), target_type)
        if self._current:
            await self.dispatch("CHANNEL_UPDATE", channel.to_payload(), guild_id=guild.id)

    async def set_bot_permissions(self, permissions: Any, guild_id: int | None = None) -> None:
        """Replace the bot role's permissions and tell the bot with GUILD_ROLE_UPDATE."""
        guild = self.guild(guild_id)
        guild.bot_permissions = _perm_value(permissions)
        assert guild.bot_role_id is not None
        role = guild.role(guild.bot_role_id)
        role.permissions = guild.bot_permissions
        if self._current:
            payload = {"guild_id": str(guild.id), "role": role.to_payload()}
            await self.dispatch("GUILD_ROLE_UPDATE", payload, guild_id=guild.id)

    # ------------------------------------------------------------------ interactions

    def _interaction_base(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: dict[str, Any] | None,
        guild_id: int | None,
        channel_id: int | None,
        permissions: Any,
        message: Mapping[str, Any] | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        guild = self.guild(guild_id)
        channel = guild.channel(channel_id) if channel_id is not None else guild.text_channels[0]
        member = guild.members[0]
        if user is not None:
            try:
                member = guild.member(int(user["id"]))
            except KeyError:
                member = FakeMember(user)
                guild.members.append(member)
        perms = (
            guild.permissions_in(member, channel)
            if permissions is None
            else _perm_value(permissions)
        )
        member_payload = member.to_payload()
        member_payload["permissions"] = str(perms)
        app_perms = self.bot_permissions_in(channel.id)
        channel_payload = channel.to_payload()
        channel_payload["permissions"] = str(perms)
        interaction_id = snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.app_id),
            "type": kind,
            "token": token,
            "version": 1,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "guild_locale": "en-US",
            "locale": locale,
            "channel_id": str(channel.id),
            "channel": channel_payload,
            "member": member_payload,
            "app_permissions": str(app_perms),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = dict(message)
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            guild_id=guild.id,
            channel_id=channel.id,
            user_id=member.id,
            created_at=time.monotonic(),
        )
        self.interactions[interaction_id] = record
        return record

    def _resolve_option(
        self, guild: FakeGuild, opt_type: int, value: Any, resolved: dict[str, Any]
    ) -> Any:
        """Turn ids for user/channel/role options into strings and fill ``resolved``."""
        if opt_type not in (6, 7, 8, 9):
            return value
        key = int(value["id"]) if isinstance(value, Mapping) else int(getattr(value, "id", value))
        if opt_type in (7,):
            channel = guild.channel(key)
            entry = channel.to_payload()
            entry["permissions"] = str(ALL_PERMISSIONS)
            resolved.setdefault("channels", {})[str(key)] = entry
        elif opt_type == 8 or (opt_type == 9 and any(r.id == key for r in guild.roles)):
            resolved.setdefault("roles", {})[str(key)] = guild.role(key).to_payload()
        else:
            member = guild.member(key)
            resolved.setdefault("users", {})[str(key)] = member.user
            member_payload = member.to_payload(with_user=False)
            member_payload["permissions"] = str(guild.base_permissions(member))
            resolved.setdefault("members", {})[str(key)] = member_payload
        return str(key)

    def _build_options(
        self,
        guild: FakeGuild,
        definitions: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        resolved: dict[str, Any],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        if not isinstance(values, Mapping):
            return [dict(v) for v in values]
        by_name = {d["name"]: d for d in definitions}
        options = []
        for name, value in values.items():
            definition = by_name.get(name)
            if definition is not None:
                opt_type = int(definition["type"])
            else:
                opt_type = next(t for cls, t in _OPTION_TYPES_BY_PYTHON if isinstance(value, cls))
            option: dict[str, Any] = {
                "name": name,
                "type": opt_type,
                "value": self._resolve_option(guild, opt_type, value, resolved),
            }
            if name == focused:
                option["focused"] = True
            options.append(option)
        return options

    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
        guild: FakeGuild,
        focused: str | None = None,
    ) -> dict[str, Any]:
        top, *subcommands = name.split()
        command = self.find_command(top, guild.id)
        resolved: dict[str, Any] = {}
        definitions: Sequence[Mapping[str, Any]] = command.get("options") or []
        path: list[Mapping[str, Any]] = []
        for sub in subcommands:
            definition = next(d for d in definitions if d["name"] == sub)
            path.append(definition)
            definitions = definition.get("options") or []
        leaf = self._build_options(guild, definitions, options or {}, resolved, focused)
        for definition in reversed(path):
            leaf = [{"name": definition["name"], "type": definition["type"], "options": leaf}]
        data: dict[str, Any] = {
            "id": command["id"],
            "name": top,
            "type": command.get("type", 1),
            "options": leaf,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    async def _send_interaction(self, record: InteractionRecord) -> InteractionRecord:
        record.created_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", record.payload, guild_id=record.guild_id)
        return record

    async def send_slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        user: dict[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        permissions: Any = None,
        locale: str = "en-US",
        enforce_default_permissions: bool = True,
    ) -> InteractionRecord:
        """Send a chat-input command interaction as a guild member would.

        ``name`` may include subcommands (``"digest subscribe"``). ``options`` maps
        option names to values (ids or objects with ``.id`` for users, channels and
        roles); types come from the registered command. ``permissions`` overrides the
        member's computed channel permissions. Like Discord's client, this refuses
        (``PermissionError``) to invoke a command whose ``default_member_permissions``
        the member lacks, unless ``enforce_default_permissions`` is false, which is how
        a test reaches the bot's own permission check.
        """
        guild = self.guild(guild_id)
        data = self._command_data(name, options, guild)
        record = self._interaction_base(
            APPLICATION_COMMAND,
            data,
            user=user,
            guild_id=guild.id,
            channel_id=channel_id,
            permissions=permissions,
            locale=locale,
        )
        required = self.find_command(data["name"], guild.id).get("default_member_permissions")
        granted = int(record.payload["member"]["permissions"])
        if (
            enforce_default_permissions
            and required is not None
            and not granted & ADMINISTRATOR
            and int(required) & ~granted
        ):
            del self.interactions[record.id]
            raise PermissionError(f"member lacks default_member_permissions {required} for {name}")
        return await self._send_interaction(record)

    async def send_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        user: dict[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> InteractionRecord:
        """Send an autocomplete interaction with ``focused`` as the option being typed."""
        guild = self.guild(guild_id)
        data = self._command_data(name, options, guild, focused=focused)
        record = self._interaction_base(
            AUTOCOMPLETE,
            data,
            user=user,
            guild_id=guild.id,
            channel_id=channel_id,
            permissions=None,
        )
        return await self._send_interaction(record)

    async def send_component(
        self,
        custom_id: str,
        message: Mapping[str, Any] | int | str,
        *,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        user: dict[str, Any] | None = None,
        permissions: Any = None,
    ) -> InteractionRecord:
        """Click a button (or pick select ``values``) on a stored message."""
        if not isinstance(message, Mapping):
            message = self.messages[int(message)]
        channel_id = int(message["channel_id"])
        guild, _ = self._find_channel(channel_id)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        record = self._interaction_base(
            MESSAGE_COMPONENT,
            data,
            user=user,
            guild_id=guild.id if guild else None,
            channel_id=channel_id,
            permissions=permissions,
            message=message,
        )
        return await self._send_interaction(record)

    def _find_modal(self, custom_id: str) -> dict[str, Any] | None:
        for interaction in reversed(list(self.interactions.values())):
            response = interaction.response
            data = (response or {}).get("data") or {}
            if response and response.get("type") == MODAL and data.get("custom_id") == custom_id:
                return data
        return None

    @staticmethod
    def _fill_modal(components: Iterable[Mapping[str, Any]], values: Mapping[str, str]) -> list:
        filled = []
        for component in components:
            kind = component.get("type")
            if kind == 1:
                inner = FakeDiscord._fill_modal(component.get("components") or [], values)
                filled.append({"type": 1, "components": inner})
            elif kind == 18:
                (inner,) = FakeDiscord._fill_modal([component["component"]], values)
                filled.append({"type": 18, "component": inner})
            elif kind == 4:
                custom_id = component["custom_id"]
                value = values.get(custom_id, component.get("value") or "")
                filled.append({"type": 4, "custom_id": custom_id, "value": value})
        return filled

    async def send_modal_submit(
        self,
        custom_id: str,
        values: Mapping[str, str],
        *,
        user: dict[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> InteractionRecord:
        """Submit a modal; ``values`` maps text input custom_ids to what the user typed.

        The component layout mirrors the modal the bot last opened with this custom_id.
        """
        modal = self._find_modal(custom_id)
        if modal is not None:
            components = self._fill_modal(modal.get("components") or [], values)
        else:
            components = [
                {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
                for k, v in values.items()
            ]
        record = self._interaction_base(
            MODAL_SUBMIT,
            {"custom_id": custom_id, "components": components},
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            permissions=None,
        )
        return await self._send_interaction(record)
