"""Answer quality on questions written apart from the tuning (tests/eval/holdout_qa.jsonl):
a floor under today's figures, so a change that makes answers worse fails here."""

from tests.eval.quality import HOLDOUT, load, score


def test_held_out_questions_keep_their_quality() -> None:
    scores = score(load(HOLDOUT))
    assert scores.answerable == 60 and scores.unanswerable == 20
    # measured: answer@1 0.67, passage@3 0.93, false_abst 2/60, abstain 16/20
    assert scores.answer1 / scores.answerable >= 0.62, scores.line()
    assert scores.passage3 / scores.answerable >= 0.90, scores.line()
    assert scores.false_abstain <= 3, scores.line()
    assert scores.abstained >= 15, scores.line()
