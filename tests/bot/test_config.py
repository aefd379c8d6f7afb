"""Settings from the environment and a .env file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import (
    DEFAULT_API_BASE,
    SettingsError,
    bundled_corpus,
    known_names,
    load_settings,
    unknown_settings,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No project settings from the outside environment, and no .env in the working folder."""
    for key in list(os.environ):
        if key.startswith(("CORPUSBOT_", "DISCORD_")):
            monkeypatch.delenv(key)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir


def _error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1, 2", {1, 2}),
        ("1,2", {1, 2}),
        ("  42  ", {42}),
        ("7 8\t9", {7, 8, 9}),
        ("", set()),
    ],
)
def test_admin_ids_are_parsed(monkeypatch: pytest.MonkeyPatch, raw: str, expected: set) -> None:
    monkeypatch.setenv("CORPUSBOT_ADMIN_IDS", raw)
    assert load_settings().admin_ids == frozenset(expected)


@pytest.mark.parametrize("raw", ["abc", "1, abc", "1;2", "-5"])
def test_bad_admin_ids_are_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    message = _error(monkeypatch, "CORPUSBOT_ADMIN_IDS", raw)
    assert "\n" not in message
    assert message.startswith("CORPUSBOT_ADMIN_IDS: ")


def test_each_problem_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPUSBOT_ADMIN_IDS", "abc")
    monkeypatch.setenv("CORPUSBOT_LOG_LEVEL", "loud")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    lines = str(excinfo.value).splitlines()
    assert len(lines) == 2
    assert {line.split(":")[0] for line in lines} == {"CORPUSBOT_ADMIN_IDS", "CORPUSBOT_LOG_LEVEL"}


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_blank_token_is_none(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", raw)
    settings = load_settings()
    assert settings.token is None
    assert settings.token_problem() == "DISCORD_TOKEN is not set"


def test_token_is_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    settings = load_settings()
    assert settings.token == token
    assert settings.token_problem() is None
    assert token not in repr(settings)


def test_malformed_token_problem_does_not_echo_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-token-secret")
    problem = load_settings().token_problem()
    assert problem is not None
    assert "not-a-token-secret" not in problem


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("abc.def.ghi", "copy it again"),  # three parts, but not a token's
        (
            "Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123",
            'starts with "Bot "',
        ),
    ],
)
def test_a_token_problem_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, token: str, says: str
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", token)
    problem = load_settings().token_problem()
    assert problem is not None and says in problem
    assert token not in problem and "MTIzNDU2" not in problem


def test_index_path_defaults_beside_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CORPUSBOT_DB", str(tmp_path / "data" / "bot.db"))
    assert load_settings().index_path == tmp_path / "data" / "bot.index"


def test_default_database_and_index_paths() -> None:
    settings = load_settings()
    assert settings.db_path == Path("data/corpusbot.db")
    assert settings.index_path == Path("data/corpusbot.index")


def test_index_path_from_corpusbot_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CORPUSBOT_DB", str(tmp_path / "bot.db"))
    monkeypatch.setenv("CORPUSBOT_INDEX", str(tmp_path / "elsewhere"))
    assert load_settings().index_path == tmp_path / "elsewhere"


def test_corpus_defaults_to_the_bundled_seeds(seeds_dir: Path) -> None:
    settings = load_settings()
    assert settings.corpus == bundled_corpus()
    assert settings.corpus.resolve() == seeds_dir.resolve()


def test_corpus_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CORPUSBOT_CORPUS", str(tmp_path / "articles"))
    assert load_settings().corpus == tmp_path / "articles"


def test_api_base_default_and_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().discord_api_base == DEFAULT_API_BASE
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:8080/api/v10/")
    assert load_settings().discord_api_base == "http://127.0.0.1:8080/api/v10"


def test_api_base_must_be_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, "DISCORD_API_BASE", "discord.com/api")
    assert message.startswith("DISCORD_API_BASE: ")


def test_dotenv_file_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        "CORPUSBOT_ADMIN_IDS=5, 6\nCORPUSBOT_DB=store/x.db\n", encoding="utf-8"
    )
    settings = load_settings()
    assert settings.admin_ids == frozenset({5, 6})
    assert settings.index_path == Path("store/x.index")


def test_environment_wins_over_dotenv(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("CORPUSBOT_ADMIN_IDS=5\n", encoding="utf-8")
    monkeypatch.setenv("CORPUSBOT_ADMIN_IDS", "9")
    assert load_settings().admin_ids == frozenset({9})


def test_arguments_win_over_the_environment_and_names_match_in_any_case(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "corpusbot_log_level=debug\nexport CORPUSBOT_ASK_COOLDOWN=7\nNOT_OURS=1\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("Corpusbot_Db", "env.db")
    settings = load_settings()
    assert (settings.db, settings.log_level, settings.ask_cooldown) == ("env.db", "DEBUG", 7.0)
    assert load_settings(db="kw.db").db == "kw.db"
    assert load_settings(CORPUSBOT_DB="alias.db").db == "alias.db"


def test_log_level_is_normalized(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPUSBOT_LOG_LEVEL", " debug ")
    assert load_settings().log_level == "DEBUG"


# --- every setting's empty value, bounds, the .env file itself -------------------------


@pytest.mark.parametrize("name", sorted(known_names()))
def test_every_setting_left_empty_means_its_default(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    default = load_settings()
    monkeypatch.setenv(name, "")
    assert load_settings() == default
    monkeypatch.delenv(name)
    (clean_env / ".env").write_text(f"{name}=\n", encoding="utf-8")
    assert load_settings() == default


def test_empty_log_file_and_dev_guild_mean_none(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        "CORPUSBOT_LOG_FILE=\nCORPUSBOT_DEV_GUILD=\nCORPUSBOT_INDEX=\n", encoding="utf-8"
    )
    settings = load_settings()
    assert settings.log_file is None
    assert settings.dev_guild_id is None
    assert settings.index_path == Path("data/corpusbot.index")


def test_a_log_file_that_is_a_folder_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _error(monkeypatch, "CORPUSBOT_LOG_FILE", str(clean_env))
    assert message.startswith("CORPUSBOT_LOG_FILE: ") and "is a folder" in message


@pytest.mark.parametrize("name", ["CORPUSBOT_DIGEST_INTERVAL", "CORPUSBOT_ASK_COOLDOWN"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e300"])
def test_intervals_must_be_finite_and_bounded(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    assert _error(monkeypatch, name, value).startswith(f"{name}: ")


def test_a_dotenv_that_is_not_utf8_is_one_clear_line(clean_env: Path) -> None:
    (clean_env / ".env").write_bytes(b"CORPUSBOT_DB=caf\xe9.db\n")
    with pytest.raises(SettingsError, match=r"^\.env: not UTF-8 text \(byte 0xe9"):
        load_settings()


def test_a_misspelt_setting_is_named_with_the_closest_known_one(clean_env: Path) -> None:
    environ = {"CORPUSBOT_CORPSU": "x", "CORPUSBOT_DB": "y", "CORPUSBOT_X": "1", "HOME": "/"}
    assert unknown_settings(environ) == [
        "CORPUSBOT_CORPSU is not a corpusbot setting and is ignored; "
        "did you mean CORPUSBOT_CORPUS?",
        "CORPUSBOT_X is not a corpusbot setting and is ignored",  # nothing close to X
    ]
    (clean_env / ".env").write_text("export CORPUSBOT_LOGLEVEL=debug\n", encoding="utf-8")
    assert any("did you mean CORPUSBOT_LOG_LEVEL?" in w for w in unknown_settings())


# --- each kind of value: what is accepted, and the line a bad one gets -----------------


@pytest.mark.parametrize(
    ("name", "raw", "field", "expected"),
    [
        ("CORPUSBOT_SHARD_COUNT", " 4 ", "shard_count", 4),
        ("CORPUSBOT_DEV_GUILD", "+12", "dev_guild_id", 12),
        ("CORPUSBOT_ASK_COOLDOWN", "0", "ask_cooldown", 0.0),
        ("CORPUSBOT_DIGEST_INTERVAL", "1.5e2", "digest_interval", 150.0),
        ("CORPUSBOT_IDENTIFY_INTERVAL", "604800", "identify_interval", 604800.0),
        ("CORPUSBOT_LOOP_MONITOR", "Yes", "loop_monitor", True),
        ("CORPUSBOT_LOOP_MONITOR", "off", "loop_monitor", False),
        ("CORPUSBOT_LOOP_MONITOR", " 1 ", "loop_monitor", True),
    ],
)
def test_values_are_parsed_to_their_types(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(name, raw)
    value = getattr(load_settings(), field)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("CORPUSBOT_SHARD_COUNT", "0", "whole number of at least 1"),
        ("CORPUSBOT_SHARD_COUNT", "two", "whole number of at least 1"),
        ("CORPUSBOT_DEV_GUILD", "1.5", "whole number of at least 1"),
        ("CORPUSBOT_ASK_COOLDOWN", "-1", "from 0 to 604800"),
        ("CORPUSBOT_ASK_COOLDOWN", "soon", "from 0 to 604800"),
        ("CORPUSBOT_DIGEST_INTERVAL", "0", "seconds above 0, at most 604800"),
        ("CORPUSBOT_DIGEST_LEASE", "nan", "finite"),
        ("CORPUSBOT_INDEX_CHECK", "604801", "at most 604800"),
        ("CORPUSBOT_LOOP_MONITOR", "maybe", "true or false"),
        ("CORPUSBOT_SHARD_IDS", "0;1", "not shard ids: 0;1"),
        ("CORPUSBOT_LOG_LEVEL", "loud", "one of DEBUG"),
    ],
)
def test_a_bad_value_is_one_line_saying_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, says: str
) -> None:
    message = _error(monkeypatch, name, raw)
    assert "\n" not in message
    assert message.startswith(f"{name}: ") and says in message


def test_shard_ids_need_a_count_and_must_fit_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _error(monkeypatch, "CORPUSBOT_SHARD_IDS", "2, 0 0") == (
        "CORPUSBOT_SHARD_IDS: needs CORPUSBOT_SHARD_COUNT"
    )
    assert "shards 0..1 of CORPUSBOT_SHARD_COUNT=2" in _error(
        monkeypatch, "CORPUSBOT_SHARD_COUNT", "2"
    )
    monkeypatch.setenv("CORPUSBOT_SHARD_COUNT", "3")
    settings = load_settings()
    assert (settings.shard_ids, settings.shards) == ((0, 2), [0, 2])


def test_keyword_arguments_may_be_typed_values(tmp_path: Path) -> None:
    settings = load_settings(
        db=tmp_path / "x.db",
        admin_ids=frozenset({3, 1}),
        shard_count=2,
        shard_ids=[1],
        ask_cooldown=2,
        loop_monitor=True,
    )
    assert settings.db == str(tmp_path / "x.db")
    assert settings.admin_ids == frozenset({1, 3})
    assert settings.shard_ids == (1,)
    assert settings.ask_cooldown == 2.0
    assert settings.loop_monitor is True


def test_a_keyword_argument_naming_no_setting_is_an_error() -> None:
    with pytest.raises(TypeError, match="no setting is called 'dbb'"):
        load_settings(dbb="x.db")


def test_the_token_stays_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    settings = load_settings()
    assert token not in repr(settings.discord_token)
    assert token not in f"{settings}"
    assert settings == load_settings()


def test_a_synonyms_file_named_on_purpose_but_missing_is_warned_of(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CORPUSBOT_SYNONYMS", str(tmp_path / "nowhere.csv"))
    with caplog.at_level("WARNING", logger="bot.config"):
        assert len(load_settings().load_synonyms()) == 0
    assert f"CORPUSBOT_SYNONYMS: {tmp_path / 'nowhere.csv'} does not exist" in caplog.text
    caplog.clear()
    monkeypatch.delenv("CORPUSBOT_SYNONYMS")
    with caplog.at_level("WARNING", logger="bot.config"):
        load_settings(corpus=tmp_path).load_synonyms()  # the corpus's own is optional
    assert caplog.text == ""
