"""Answer quality on questions written apart from the tuning (tests/eval/holdout_qa.jsonl):
a floor under today's figures, so a change that makes answers worse fails here."""

from tests.eval.quality import HOLDOUT, load, score


def test_held_out_questions_keep_their_quality() -> None:
    scores = score(load(HOLDOUT))
    assert scores.answerable == 60 and scores.unanswerable == 20
    # measured: answer@1 0.72 (43/60), passage@3 0.95, false_abst 2/60, abstain 14/20;
    # reading sentences in context took it from 41 right and 16 abstentions to 43 and 14,
    # so the right outcomes of both kinds are held together too (57 of 80)
    assert scores.answer1 / scores.answerable >= 0.67, scores.line()
    assert scores.passage3 / scores.answerable >= 0.92, scores.line()
    assert scores.false_abstain <= 3, scores.line()
    assert scores.abstained >= 13, scores.line()
    assert scores.answer1 + scores.abstained >= 55, scores.line()
