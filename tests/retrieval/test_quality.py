"""Answer quality on questions written apart from the tuning (tests/eval/holdout_qa.jsonl):
a floor under today's figures, so a change that makes answers worse fails here."""

from tests.eval.quality import HOLDOUT, load, score


def test_held_out_questions_keep_their_quality() -> None:
    scores = score(load(HOLDOUT))
    assert scores.answerable == 60 and scores.unanswerable == 20
    # measured: answer@1 0.63, passage@3 0.90, false_abst 3/60, abstain 12/20
    assert scores.answer1 / scores.answerable >= 0.58, scores.line()
    assert scores.passage3 / scores.answerable >= 0.87, scores.line()
    assert scores.false_abstain <= 4, scores.line()
    assert scores.abstained >= 11, scores.line()
