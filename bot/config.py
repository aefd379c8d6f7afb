"""Typed settings from the environment and an optional ``.env`` file.

Every setting is read here and nowhere else; ``load_settings()`` is called by the entry
point, never at import. ``deploy/.env.example`` lists each one with its default.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrieval.synonyms import Synonyms, load_synonyms

__all__ = [
    "DEFAULT_API_BASE",
    "SYNONYMS_FILE_NAME",
    "Settings",
    "SettingsError",
    "bundled_corpus",
    "load_settings",
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    discord_token: SecretStr | None = Field(None, validation_alias="DISCORD_TOKEN")
    discord_api_base: str = Field(DEFAULT_API_BASE, validation_alias="DISCORD_API_BASE")
    corpus: Path = Field(default_factory=bundled_corpus, validation_alias="CORPUSBOT_CORPUS")
    db: Path = Field(Path("data/corpusbot.db"), validation_alias="CORPUSBOT_DB")
    index_dir: Path | None = Field(None, validation_alias="CORPUSBOT_INDEX")
    synonyms_file: Path | None = Field(None, validation_alias="CORPUSBOT_SYNONYMS")
    dev_guild_id: int | None = Field(None, validation_alias="CORPUSBOT_DEV_GUILD", gt=0)
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), validation_alias="CORPUSBOT_ADMIN_IDS"
    )
    ask_cooldown: float = Field(5.0, validation_alias="CORPUSBOT_ASK_COOLDOWN", ge=0)
    digest_interval: float = Field(60.0, validation_alias="CORPUSBOT_DIGEST_INTERVAL", gt=0)
    log_level: str = Field("INFO", validation_alias="CORPUSBOT_LOG_LEVEL")
    log_file: Path | None = Field(None, validation_alias="CORPUSBOT_LOG_FILE")
    loop_monitor: bool = Field(False, validation_alias="CORPUSBOT_LOOP_MONITOR")

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
        return self.index_dir or self.db.with_name(self.db.stem + ".index")

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


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one readable line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = err["loc"][0] if err["loc"] else "settings"
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise SettingsError("\n".join(lines)) from None
