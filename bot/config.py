"""Typed settings from the environment and an optional ``.env`` file.

Every setting is read here and nowhere else; ``load_settings()`` is called by the entry
point, never at import. ``deploy/.env.example`` lists each one with its default.

The settings are a pydantic model; the variables are read by ``_raw_values`` (the
environment over the ``.env`` file, names in any case), which spares a one-shot command
the import of pydantic-settings and its many optional sources (some 50 ms).
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from retrieval.synonyms import Synonyms, load_synonyms

__all__ = [
    "DEFAULT_API_BASE",
    "SYNONYMS_FILE_NAME",
    "Settings",
    "SettingsError",
    "bundled_corpus",
    "known_names",
    "load_settings",
    "unknown_settings",
]

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://discord.com/api/v10"
SYNONYMS_FILE_NAME = "synonyms.csv"
# Three dot-separated base64url parts: user id, timestamp, HMAC.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


def bundled_corpus() -> Path:
    """The seed articles shipped with the project (``seeds/`` beside the packages)."""
    here = Path(__file__).resolve().parent.parent / "seeds"
    return here if here.is_dir() else Path("seeds")


class SettingsError(Exception):
    """Settings are invalid; the message has one line per problem."""


ENV_FILE = ".env"
_ENV_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)
MAX_INTERVAL_SECONDS = 7 * 86400


def _raw_values(overrides: dict[str, Any]) -> dict[str, Any]:
    """Each setting's value as given, under its variable name: a keyword argument (by
    field or variable name) wins over the environment, which wins over the ``.env``
    file. Variable names are matched whatever their case; a variable that no setting
    reads is ignored."""
    fields = Settings.model_fields
    names = {str(f.validation_alias).lower(): str(f.validation_alias) for f in fields.values()}
    values: dict[str, Any] = {}
    from_file: dict[str, str | None] = {}
    if os.path.isfile(ENV_FILE):
        from dotenv import dotenv_values  # some 10 ms, for the file only

        with contextlib.suppress(OSError):
            from_file = dotenv_values(ENV_FILE, encoding="utf-8")
    for source in (from_file, os.environ):
        for key, value in source.items():
            name = names.get(key.lower())
            if name is not None and value is not None:
                values[name] = value
    for key, value in overrides.items():
        field = fields.get(key)
        values[str(field.validation_alias) if field else names.get(key.lower(), key)] = value
    return values


class Settings(BaseModel):
    """Every setting, read from the environment and the ``.env`` file when created
    (keyword arguments override them)."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        allow_inf_nan=False,
        validate_default=True,
    )

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**_raw_values(overrides))

    discord_token: SecretStr | None = Field(None, validation_alias="DISCORD_TOKEN")
    discord_api_base: str = Field(DEFAULT_API_BASE, validation_alias="DISCORD_API_BASE")
    corpus: Path = Field(default_factory=bundled_corpus, validation_alias="CORPUSBOT_CORPUS")
    # An SQLite file path (the embedded default) or a postgresql:// URL: a string, as a
    # Path would fold a URL's "//"; `db_path` is the file, `db_url` the URL.
    db: str = Field("data/corpusbot.db", validation_alias="CORPUSBOT_DB")
    shard_count: int | None = Field(None, validation_alias="CORPUSBOT_SHARD_COUNT", gt=0)
    shard_ids: tuple[int, ...] | None = Field(None, validation_alias="CORPUSBOT_SHARD_IDS")
    index_dir: Path | None = Field(None, validation_alias="CORPUSBOT_INDEX")
    synonyms_file: Path | None = Field(None, validation_alias="CORPUSBOT_SYNONYMS")
    dev_guild_id: int | None = Field(None, validation_alias="CORPUSBOT_DEV_GUILD", gt=0)
    admin_ids: frozenset[int] = Field(frozenset(), validation_alias="CORPUSBOT_ADMIN_IDS")
    ask_cooldown: float = Field(
        5.0, validation_alias="CORPUSBOT_ASK_COOLDOWN", ge=0, le=MAX_INTERVAL_SECONDS
    )
    digest_interval: float = Field(
        60.0, validation_alias="CORPUSBOT_DIGEST_INTERVAL", gt=0, le=MAX_INTERVAL_SECONDS
    )
    digest_lease: float = Field(
        60.0, validation_alias="CORPUSBOT_DIGEST_LEASE", gt=0, le=MAX_INTERVAL_SECONDS
    )
    # Seconds between checks for a reindex done by another process (besides LISTEN/NOTIFY
    # on PostgreSQL, the only way on SQLite).
    index_check: float = Field(
        30.0, validation_alias="CORPUSBOT_INDEX_CHECK", gt=0, le=MAX_INTERVAL_SECONDS
    )
    # Discord lets one shard per max_concurrency bucket identify every 5 s; only a local
    # stand-in of Discord warrants less.
    identify_interval: float = Field(
        5.0, validation_alias="CORPUSBOT_IDENTIFY_INTERVAL", ge=0, le=MAX_INTERVAL_SECONDS
    )
    log_level: str = Field("INFO", validation_alias="CORPUSBOT_LOG_LEVEL")
    log_file: Path | None = Field(None, validation_alias="CORPUSBOT_LOG_FILE")
    loop_monitor: bool = Field(False, validation_alias="CORPUSBOT_LOOP_MONITOR")

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, data: Any) -> Any:
        """An empty value (``CORPUSBOT_LOG_FILE=``) means the setting's default, for
        every setting, as deploy/.env.example promises."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("log_file")
    @classmethod
    def _log_file_is_a_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError(f"{value} is a folder; give a file path, or leave it empty")
        return value

    @field_validator(
        "ask_cooldown", "digest_interval", "digest_lease", "index_check", "identify_interval"
    )
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number of seconds")
        return value

    @field_validator("db", mode="before")
    @classmethod
    def _db_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _split_shards(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[\s,]+", value.strip()) if p]
            bad = [p for p in parts if not p.isdigit()]
            if bad:
                raise ValueError(f"not shard ids: {', '.join(bad)} (expected e.g. 0,1)")
            return tuple(sorted({int(p) for p in parts}))
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("CORPUSBOT_SHARD_IDS needs CORPUSBOT_SHARD_COUNT")
            outside = [s for s in self.shard_ids if s >= self.shard_count]
            if outside or not self.shard_ids:
                raise ValueError(
                    f"CORPUSBOT_SHARD_IDS must be shards 0..{self.shard_count - 1} "
                    f"of CORPUSBOT_SHARD_COUNT={self.shard_count}"
                )
        return self

    @property
    def db_is_postgres(self) -> bool:
        """True when CORPUSBOT_DB is a postgresql:// URL."""
        return self.db.startswith(("postgresql://", "postgres://"))

    @property
    def db_path(self) -> Path | None:
        """The SQLite file, or None when the database is a PostgreSQL server."""
        return None if self.db_is_postgres else Path(self.db)

    @property
    def db_label(self) -> str:
        """The database for messages: the path, or the URL without its password."""
        from bot.storage import redact

        return redact(self.db)

    @property
    def local_stem(self) -> Path:
        """Where this host's own files go by default (index folder, heartbeat): beside
        the SQLite file; with a database server, beside CORPUSBOT_INDEX, else data/."""
        if self.db_path is not None:
            return self.db_path.with_name(self.db_path.stem)
        if self.index_dir is not None:
            return self.index_dir.parent / "corpusbot"
        return Path("data/corpusbot")

    @property
    def shards(self) -> list[int] | None:
        """The shards this process runs, or None: one process, all shards."""
        if self.shard_count is None:
            return None
        return list(self.shard_ids) if self.shard_ids else list(range(self.shard_count))

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[\s,]+", value.strip()) if p]
            bad = [p for p in parts if not p.isdigit()]
            if bad:
                raise ValueError(
                    f"not user ids: {', '.join(bad)} (expected comma-separated numbers)"
                )
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("discord_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_api_base")
    @classmethod
    def _check_api_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as https://discord.com/api/v10")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @property
    def index_path(self) -> Path:
        """Where the built index lives: CORPUSBOT_INDEX, else beside the database."""
        stem = self.local_stem
        return self.index_dir or stem.with_name(stem.name + ".index")

    @property
    def synonyms_path(self) -> Path:
        """The synonyms file: CORPUSBOT_SYNONYMS, else ``synonyms.csv`` in the corpus."""
        return self.synonyms_file or self.corpus / SYNONYMS_FILE_NAME

    def load_synonyms(self) -> Synonyms:
        """The groups of the synonyms file; its problems are logged, never fatal."""
        groups, problems = load_synonyms(self.synonyms_path)
        for problem in problems:
            log.warning("synonyms: %s", problem)
        return groups

    @property
    def token(self) -> str | None:
        return self.discord_token.get_secret_value() if self.discord_token else None

    def token_problem(self) -> str | None:
        """Why the token cannot be a bot token, or None; never includes the token."""
        token = self.token
        if token is None:
            return "DISCORD_TOKEN is not set"
        if not _TOKEN_SHAPE.match(token.strip()):
            return "DISCORD_TOKEN does not look like a bot token (three dot-separated parts)"
        return None


def known_names() -> set[str]:
    """The environment variable names corpusbot reads."""
    return {str(f.validation_alias) for f in Settings.model_fields.values()}


def unknown_settings(environ: dict[str, str] | None = None) -> list[str]:
    """Warnings for ``CORPUSBOT_*`` variables (in the environment or .env) that no
    setting reads, each naming the closest known setting: a typo is otherwise silent."""
    names = set(os.environ if environ is None else environ)
    if environ is None:
        try:
            text = Path(ENV_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        names |= set(_ENV_NAME.findall(text))
    known = known_names()
    warnings = []
    for name in sorted(n for n in names if n.upper().startswith("CORPUSBOT_")):
        if name in known:
            continue
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{name} is not a corpusbot setting and is ignored{hint}")
    return warnings


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one readable line per problem."""
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{ENV_FILE}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = err["loc"][0] if err["loc"] else "settings"
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise SettingsError("\n".join(lines)) from None
