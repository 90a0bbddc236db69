"""Span agreement (annotation.stats.spans): unitizing alpha against a worked example computed
by hand from Krippendorff's (1995, 2004) formulas, character F1, and their intervals."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.exports.readers.spans import merged_pieces
from annotation.stats.spans import (
    character_f1_sums,
    span_agreement,
    unitizing_disagreements,
)


def test_unitizing_alpha_of_a_worked_example():
    """Ten characters, two coders: one marks [2, 6), the other [3, 6).

    Segments: coder 1 gap [0,2) unit [2,6) gap [6,10); coder 2 gap [0,3) unit [3,6) gap [6,10).
    Observed: the only non-zero d2 is unit against unit, (2-3)^2 + (6-6)^2 = 1, so
    D_o = 2 * 1 / (2 * 1 * 10^2) = 0.01.
    Expected: N = 2 units (lengths 4 and 3), gaps 2, 4, 3, 4; denominator
    2*10*(2*10 - 1) - (4*3 + 3*2) = 362. Unit 4: 1/3 * (128 - 48 + 4) = 28, plus
    16 * ((4-4+1) + (4-4+1)) = 32: 60. Unit 3: 1/3 * (54 - 27 + 3) = 10, plus
    9 * ((4-3+1) + (3-3+1) + (4-3+1)) = 45: 55. D_e = 2/10 * 115 / 362 = 23/362.
    alpha = 1 - 0.01 * 362 / 23 = 969/1150."""
    d_o, d_e = unitizing_disagreements([[(2, 6)], [(3, 6)]], 10)

    assert d_o == pytest.approx(0.01)
    assert d_e == pytest.approx(23 / 362)
    assert 1 - d_o / d_e == pytest.approx(969 / 1150)


def test_character_f1_of_the_worked_example():
    inter, total = character_f1_sums([[(2, 6)], [(3, 6)]], 10)

    assert (inter, total) == (3, 7)  # F1 = 2 * 3 / (4 + 3)


def _agreement(coders, spans, **kwargs):
    coder_response, coder_annotator, coder_length = (np.array(c) for c in zip(*coders, strict=True))
    columns = [np.array(c, dtype=np.int64) for c in zip(*spans, strict=True)] if spans else [[]] * 5
    return span_agreement(
        coder_response, coder_annotator, coder_length, *columns, n_labels=2, **kwargs
    )


def test_span_agreement_reports_each_label_and_the_pool():
    coders = [(0, 1, 10), (0, 2, 10)]
    spans = [(0, 1, 0, 2, 6), (0, 2, 0, 3, 6), (0, 1, 1, 0, 1)]

    report = _agreement(coders, spans, n_boot=0)

    first, second = report["labels"]
    assert first["unitizing_alpha"]["value"] == pytest.approx(969 / 1150)
    assert first["char_f1"]["value"] == pytest.approx(6 / 7)
    assert first["n_spans"] == 2 and second["n_spans"] == 1
    # Only annotator 1 marked label 1: no character in common.
    assert second["char_f1"]["value"] == 0
    assert second["unitizing_alpha"]["value"] < 0.5
    assert report["char_f1"]["value"] == pytest.approx(2 * 3 / (7 + 1))
    assert (report["n_items"], report["n_annotators"], report["n_spans"]) == (1, 2, 3)


def test_identical_marks_agree_perfectly_and_a_lone_coder_says_nothing():
    coders = [(0, 1, 20), (0, 2, 20), (0, 3, 20), (1, 1, 8)]
    spans = [(0, a, 0, 5, 9) for a in (1, 2, 3)] + [(1, 1, 0, 0, 4)]

    report = _agreement(coders, spans, n_boot=200)

    label = report["labels"][0]
    assert label["char_f1"]["value"] == 1.0
    assert label["unitizing_alpha"]["value"] == pytest.approx(1.0)
    assert label["char_f1"]["ci"] == [1.0, 1.0]
    assert report["n_items"] == 1  # response 1 was judged once
    assert report["labels"][1]["char_f1"] == {"value": None, "ci": [None, None]}


def test_an_annotator_who_marked_nothing_disagrees_with_one_who_did():
    report = _agreement([(0, 1, 10), (0, 2, 10)], [(0, 1, 0, 2, 6)], n_boot=0)

    label = report["labels"][0]
    assert label["char_f1"]["value"] == 0
    assert label["unitizing_alpha"]["value"] < 0


def test_intervals_come_from_resampling_responses():
    rng = np.random.default_rng(3)
    coders, spans = [], []
    for response in range(40):
        start = int(rng.integers(0, 30))
        for annotator in range(3):
            coders.append((response, annotator, 60))
            jitter = int(rng.integers(0, 4))
            spans.append((response, annotator, 0, start + jitter, start + 10 + jitter))

    report = _agreement(coders, spans, n_boot=300)

    f1 = report["labels"][0]["char_f1"]
    alpha = report["labels"][0]["unitizing_alpha"]
    assert f1["ci"][0] < f1["value"] < f1["ci"][1]
    assert alpha["ci"][0] < alpha["value"] < alpha["ci"][1]
    assert 0.5 < alpha["value"] < 1


def test_merged_pieces_cut_where_the_number_of_annotators_changes():
    marks = [(1, 0, 10), (1, 5, 12), (2, 3, 6), (3, 3, 6), (3, 20, 22)]

    assert merged_pieces(marks) == [(0, 3, 1), (3, 6, 3), (6, 12, 1), (20, 22, 1)]
