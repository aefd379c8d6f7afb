from pathlib import Path

import pytest

from retrieval.synonyms import (
    MAX_GROUP_MEMBERS,
    Synonyms,
    learn_aliases,
    load_synonyms,
    parse_group,
    phrase_key,
)


def test_a_group_keeps_its_names_as_written_without_repeats() -> None:
    assert parse_group(" Jack Ma ,Ma Yun, jack  ma ,") == ("Jack Ma", "Ma Yun")


@pytest.mark.parametrize(
    "line",
    ["Jack Ma", "Jack Ma, jack ma", ",,,", "Jack Ma, !!!", ", ".join(f"n{i}" for i in range(30))],
)
def test_a_line_that_is_not_a_group_is_refused_with_a_reason(line: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        parse_group(line)
    assert MAX_GROUP_MEMBERS < 30


def test_the_file_format_skips_comments_and_reports_bad_lines() -> None:
    groups, problems = Synonyms.parse(
        "# aliases\nJack Ma, Ma Yun  # the founder\n\nlonely\nAli, Alibaba\n"
    )
    assert groups.groups == (("Jack Ma", "Ma Yun"), ("Ali", "Alibaba"))
    assert problems == ["line 4: a group needs at least two different names, separated by commas"]


def test_groups_sharing_a_name_are_merged() -> None:
    merged = Synonyms((("Jack Ma", "Ma Yun"),)).merged([("ma yun", "Mr. Ma")], [("A", "B")])
    assert merged.groups == (("Jack Ma", "Ma Yun", "Mr. Ma"), ("A", "B"))


def test_expansions_add_the_other_names_of_a_mentioned_group() -> None:
    groups = Synonyms((("Jack Ma", "Ma Yun"), ("Ali", "Alibaba")))
    assert groups.expansions("What did JACK MA tell staff?") == ["Ma Yun"]
    assert groups.expansions("alibaba and ma yun") == ["Jack Ma", "Ali"]
    # whole words only: "Ali" is not in "Alipay", "ma" alone is not "Jack Ma"
    assert groups.expansions("what is alipay's ma") == []


def test_phrase_key_normalizes_case_quotes_and_spacing() -> None:
    assert phrase_key("  Ma   Yun’s ") == phrase_key("ma yun's") == "ma yun"


def test_aliases_the_articles_state_are_learned() -> None:
    texts = [
        "Zhang Yong, also known as Daniel Zhang, stepped down.",
        "Alibaba Cloud Intelligence (ACI) grew.",
        "Ma Yun (Jack Ma) spoke.",
        "Tencent Technology (Beijing) reported it.",  # a place, not an alias
        "Revenue (2023) rose.",
    ]
    pairs = {tuple(sorted(map(phrase_key, p))) for p in learn_aliases(texts)}
    assert pairs == {
        ("daniel zhang", "zhang yong"),
        ("aci", "alibaba cloud intelligence"),
        ("jack ma", "ma yun"),
    }


def test_a_missing_file_means_no_groups_and_an_unreadable_one_says_why(tmp_path: Path) -> None:
    assert load_synonyms(tmp_path / "none.csv") == (Synonyms(), [])
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Jack Ma, Ma Yun\n\xff\xfe broken")
    groups, problems = load_synonyms(bad)
    assert groups == Synonyms() and problems and "cannot be read" in problems[0]
    good = tmp_path / "good.csv"
    good.write_text("Trudy Dai, Dai Shan\nsolo\n", encoding="utf-8")
    groups, problems = load_synonyms(good)
    assert groups.groups == (("Trudy Dai", "Dai Shan"),)
    assert problems == [
        f"{good}: line 2: a group needs at least two different names, separated by commas"
    ]
