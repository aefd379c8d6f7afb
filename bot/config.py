"""Typed settings from the environment and an optional ``.env`` file.

Every setting is read here and nowhere else; ``load_settings()`` is called by the entry
point, never at import. ``deploy/.env.example`` lists each one with its default.

Each setting is a ``Setting`` in ``SETTINGS``: its variable, a parser from text to its
type, and its default. The variables are read by ``_raw_values`` (the environment over
the ``.env`` file, names in any case). Plain Python, as settings are read on every start:
a validation library's import and model building cost a one-shot command some 0.2 s.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.synonyms import Synonyms, load_synonyms

__all__ = [
    "DEFAULT_API_BASE",
    "SETTINGS",
    "SYNONYMS_FILE_NAME",
    "Secret",
    "Setting",
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


class Secret:
    """A value kept out of reprs and logs (the Discord token); ``get_secret_value()``
    gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# --- parsers: a value as given (text from the environment, or a typed keyword
# argument) to the setting's type; a ValueError's message says what is expected --------


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_text(value))


def _whole(value: object, *, least: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    else:
        raise ValueError(f"must be a whole number of at least {least}")
    if number < least:
        raise ValueError(f"must be a whole number of at least {least}")
    return number


def _seconds(*, zero: bool) -> Callable[[object], float]:
    """A finite number of seconds up to MAX_INTERVAL_SECONDS; 0 only if zero is allowed."""
    expected = (
        f"must be a number of seconds from 0 to {MAX_INTERVAL_SECONDS}"
        if zero
        else f"must be a number of seconds above 0, at most {MAX_INTERVAL_SECONDS}"
    )

    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(expected)
        try:
            number = float(value)
        except ValueError:
            raise ValueError(expected) from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number of seconds")
        if number < 0 or (number == 0 and not zero) or number > MAX_INTERVAL_SECONDS:
            raise ValueError(expected)
        return number

    return parse


_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise ValueError("must be true or false (or 1/0, yes/no, on/off)")


def _numbers(kind: str, example: str) -> Callable[[object], tuple[int, ...]]:
    """Comma- or space-separated whole numbers (or a collection of ints), sorted, once each."""

    def parse(value: object) -> tuple[int, ...]:
        if isinstance(value, str):
            parts = [p for p in re.split(r"[\s,]+", value.strip()) if p]
        elif isinstance(value, list | tuple | set | frozenset):
            parts = [str(p) for p in value if not isinstance(p, bool)]
            if len(parts) != len(value):
                raise ValueError(f"not {kind}: expected {example}")
        else:
            raise ValueError(f"not {kind}: expected {example}")
        bad = [p for p in parts if not p.isdigit()]
        if bad:
            raise ValueError(f"not {kind}: {', '.join(bad)} (expected {example})")
        return tuple(sorted({int(p) for p in parts}))

    return parse


def _token(value: object) -> Secret:
    return value if isinstance(value, Secret) else Secret(_text(value))


def _api_base(value: object) -> str:
    url = _text(value).strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError("must be an http(s) URL such as https://discord.com/api/v10")
    return url


def _db(value: object) -> str:
    # an SQLite file path or a postgresql:// URL: kept as text, as a Path would fold a
    # URL's "//"
    return str(value) if isinstance(value, Path) else _text(value)


def _log_level(value: object) -> str:
    level = _text(value).strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def _log_file(value: object) -> Path:
    path = _path(value)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a file path, or leave it empty")
    return path


_shard_ids = _numbers("shard ids", "e.g. 0,1")
_user_ids = _numbers("user ids", "comma-separated numbers")


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: the environment variable it is read from, how its text is parsed,
    and its default (used when the variable is unset or blank)."""

    variable: str
    parse: Callable[[object], Any]
    default: Any = None
    default_factory: Callable[[], Any] | None = None

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory else self.default


# Field name -> setting, in the order deploy/.env.example and the README list them.
SETTINGS: dict[str, Setting] = {
    "discord_token": Setting("DISCORD_TOKEN", _token),
    "discord_api_base": Setting("DISCORD_API_BASE", _api_base, DEFAULT_API_BASE),
    "corpus": Setting("CORPUSBOT_CORPUS", _path, default_factory=bundled_corpus),
    "db": Setting("CORPUSBOT_DB", _db, "data/corpusbot.db"),
    "shard_count": Setting("CORPUSBOT_SHARD_COUNT", lambda v: _whole(v, least=1)),
    "shard_ids": Setting("CORPUSBOT_SHARD_IDS", _shard_ids),
    "index_dir": Setting("CORPUSBOT_INDEX", _path),
    "synonyms_file": Setting("CORPUSBOT_SYNONYMS", _path),
    "dev_guild_id": Setting("CORPUSBOT_DEV_GUILD", lambda v: _whole(v, least=1)),
    "admin_ids": Setting("CORPUSBOT_ADMIN_IDS", lambda v: frozenset(_user_ids(v)), frozenset()),
    "ask_cooldown": Setting("CORPUSBOT_ASK_COOLDOWN", _seconds(zero=True), 5.0),
    "digest_interval": Setting("CORPUSBOT_DIGEST_INTERVAL", _seconds(zero=False), 60.0),
    "digest_lease": Setting("CORPUSBOT_DIGEST_LEASE", _seconds(zero=False), 60.0),
    # Seconds between checks for a reindex done by another process (besides LISTEN/NOTIFY
    # on PostgreSQL, the only way on SQLite).
    "index_check": Setting("CORPUSBOT_INDEX_CHECK", _seconds(zero=False), 30.0),
    # Discord lets one shard per max_concurrency bucket identify every 5 s; only a local
    # stand-in of Discord warrants less.
    "identify_interval": Setting("CORPUSBOT_IDENTIFY_INTERVAL", _seconds(zero=True), 5.0),
    "log_level": Setting("CORPUSBOT_LOG_LEVEL", _log_level, "INFO"),
    "log_file": Setting("CORPUSBOT_LOG_FILE", _log_file),
    "loop_monitor": Setting("CORPUSBOT_LOOP_MONITOR", _flag, False),
}


def _raw_values(overrides: dict[str, Any]) -> dict[str, Any]:
    """Each setting's value as given, under its field name: a keyword argument (by
    field or variable name) wins over the environment, which wins over the ``.env``
    file. Variable names are matched whatever their case; a variable that no setting
    reads is ignored (``unknown_settings`` warns of it), a keyword argument is not."""
    by_variable = {s.variable.lower(): name for name, s in SETTINGS.items()}
    values: dict[str, Any] = {}
    from_file: dict[str, str | None] = {}
    if os.path.isfile(ENV_FILE):
        from dotenv import dotenv_values  # some 10 ms, for the file only

        with contextlib.suppress(OSError):
            from_file = dotenv_values(ENV_FILE, encoding="utf-8")
    for source in (from_file, os.environ):
        for key, value in source.items():
            name = by_variable.get(key.lower())
            if name is not None and value is not None:
                values[name] = value
    for key, value in overrides.items():
        name = key if key in SETTINGS else by_variable.get(key.lower())
        if name is None:
            raise TypeError(f"no setting is called {key!r}")
        values[name] = value
    return values


@dataclass(frozen=True, init=False)
class Settings:
    """Every setting, read from the environment and the ``.env`` file when created
    (keyword arguments, by field or variable name, override them). Problems raise
    SettingsError, one line per setting."""

    discord_token: Secret | None
    discord_api_base: str
    corpus: Path
    db: str  # `db_path` is the SQLite file, `db_is_postgres` tells a URL
    shard_count: int | None
    shard_ids: tuple[int, ...] | None
    index_dir: Path | None
    synonyms_file: Path | None
    dev_guild_id: int | None
    admin_ids: frozenset[int]
    ask_cooldown: float
    digest_interval: float
    digest_lease: float
    index_check: float
    identify_interval: float
    log_level: str
    log_file: Path | None
    loop_monitor: bool

    def __init__(self, **overrides: Any) -> None:
        given = _raw_values(overrides)
        problems = []
        for name, setting in SETTINGS.items():
            value = given.get(name)
            # an empty value (``CORPUSBOT_LOG_FILE=``) means the setting's default, for
            # every setting, as deploy/.env.example promises
            if value is None or (isinstance(value, str) and not value.strip()):
                parsed = setting.default_value()
            else:
                try:
                    parsed = setting.parse(value)
                except ValueError as exc:
                    problems.append(f"{setting.variable}: {exc}")
                    continue
            object.__setattr__(self, name, parsed)
        if not problems:
            problems = self._conflicts()
        if problems:
            raise SettingsError("\n".join(problems))

    def _conflicts(self) -> list[str]:
        """Problems between settings, each valid alone."""
        if self.shard_ids is None:
            return []
        if self.shard_count is None:
            return ["CORPUSBOT_SHARD_IDS: needs CORPUSBOT_SHARD_COUNT"]
        outside = [s for s in self.shard_ids if s >= self.shard_count]
        if outside or not self.shard_ids:
            return [
                f"CORPUSBOT_SHARD_IDS: must be shards 0..{self.shard_count - 1} "
                f"of CORPUSBOT_SHARD_COUNT={self.shard_count}"
            ]
        return []

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

    @property
    def index_path(self) -> Path:
        """Where the built index lives: CORPUSBOT_INDEX, else beside the database."""
        stem = self.local_stem
        return self.index_dir or stem.with_name(stem.name + ".index")

    def index_problem(self, message: str) -> str:
        """A problem with the index folder, saying which setting put the folder there."""
        if str(self.index_path) not in message:
            return message
        if self.index_dir is not None:
            return f"{message} (the folder CORPUSBOT_INDEX names)"
        return f"{message} (beside CORPUSBOT_DB, as CORPUSBOT_INDEX is not set)"

    @property
    def synonyms_path(self) -> Path:
        """The synonyms file: CORPUSBOT_SYNONYMS, else ``synonyms.csv`` in the corpus."""
        return self.synonyms_file or self.corpus / SYNONYMS_FILE_NAME

    def load_synonyms(self) -> Synonyms:
        """The groups of the synonyms file; its problems are logged, never fatal."""
        groups, problems = load_synonyms(self.synonyms_path)
        if self.synonyms_file is not None and not self.synonyms_file.exists():
            # the corpus's own file is optional; one named on purpose is not
            problems.append(f"CORPUSBOT_SYNONYMS: {self.synonyms_file} does not exist")
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
        token = token.strip()
        if token.lower().startswith("bot "):
            return 'DISCORD_TOKEN starts with "Bot ": give the token alone, without it'
        if not _TOKEN_SHAPE.match(token):
            return (
                "DISCORD_TOKEN does not look like a bot token (three dot-separated parts of "
                "letters, digits, - and _, some 70 characters in all: copy it again from the "
                "Developer Portal's Bot page)"
            )
        return None


def known_names() -> set[str]:
    """The environment variable names corpusbot reads."""
    return {s.variable for s in SETTINGS.values()}


_PREFIX = "CORPUSBOT_"


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
        # compared without the shared prefix, which makes any two names look alike
        # ("CORPUSBOT_X" is not a misspelt "CORPUSBOT_DB")
        suffixes = {k.removeprefix(_PREFIX): k for k in known if k.startswith(_PREFIX)}
        close = difflib.get_close_matches(
            name.upper().removeprefix(_PREFIX), sorted(suffixes), n=1, cutoff=0.6
        )
        hint = f"; did you mean {suffixes[close[0]]}?" if close else ""
        warnings.append(f"{name} is not a corpusbot setting and is ignored{hint}")
    return warnings


def load_settings(**overrides: object) -> Settings:
    """Read settings; invalid ones raise SettingsError, one readable line per problem."""
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{ENV_FILE}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
