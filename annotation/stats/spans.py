"""Agreement of span annotations: character-level F1 and Krippendorff's unitizing alpha.

Input is long format, as the database gives it. A *coder row* says an annotator judged a
response (and so could have marked it: an annotator who marked nothing agrees that nothing
is wrong): ``coder_response[k]``, ``coder_annotator[k]``, ``coder_length[k]`` (the
response's length in characters). A *span row* is one mark: ``span_response``,
``span_annotator``, ``span_label`` (0 .. n_labels - 1), ``span_start``, ``span_end``
(character offsets, end exclusive). An annotator's overlapping marks of one label on one
response are merged first (a coder's units of one category may not overlap).

Each response is its own continuum, coded by the annotators who judged it; responses judged
by fewer than two say nothing about agreement and are left out. Per label:

- **Character F1**: for every pair of annotators of a response, the characters one marked
  with the label against the other's; pooled over pairs and responses,
  ``F1 = 2 * sum |A & B| / sum (|A| + |B|)``. Pairs where neither marked anything add
  nothing (they agree, but F1 is undefined on empty sets): an empty report is undefined.
- **Unitizing alpha** (Krippendorff's u-alpha for one category), ``1 - D_o / D_e``, with the
  observed and expected disagreements of Krippendorff (1995), "On the reliability of
  unitizing continuous data", Sociological Methodology 25: 47-76, as given again in
  Krippendorff (2004), Content Analysis, 2nd ed., section 12.4 (the same definitions as
  DKPro Statistics' KrippendorffAlphaUnitizingAgreement). Each coder's continuum of
  length L is cut into units (marked with the label) and gaps. For m coders:

      D_o = 1 / (m (m - 1) L^2) * sum over ordered coder pairs (i, j), segments g of i and
            h of j, of d2(g, h), where d2 is (b_g - b_h)^2 + (e_g - e_h)^2 for two units
            that overlap, l_g^2 for a unit g inside a gap h (and l_h^2 the other way round),
            and 0 otherwise;
      D_e = (2 / L) * sum over all units u of [(N - 1) / 3 * (2 l_u^3 - 3 l_u^2 + l_u)
            + l_u^2 * sum over all gaps h with l_h >= l_u of (l_h - l_u + 1)]
            / (m L (m L - 1) - sum over units of l_u (l_u - 1)),

  N being the number of units of every coder. A response where nobody used the label has
  D_o = D_e = 0. Over several responses the disagreements are pooled as
  ``alpha = 1 - sum_r L_r D_o,r / sum_r L_r D_e,r`` (weighted by length, like a continuum
  made of them); one response gives Krippendorff's u-alpha exactly.

Over all labels, both figures pool the label's sums (DKPro averages the disagreements over
categories, the same ratio). Intervals are a bootstrap over responses (a response's marks
travel together), 95% percentile, with ``stats.resampling.bootstrap``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from annotation.stats.resampling import bootstrap, ci_entry

__all__ = ["character_f1_sums", "gold_span_f1", "span_agreement", "unitizing_disagreements"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Per response and label: F1's intersections and totals, and L * D_o, L * D_e.
_FEATURES = 4


def _merged(starts: IntArray, ends: IntArray) -> list[tuple[int, int]]:
    """One coder's marks of one label as non-overlapping units, in order."""
    units: list[tuple[int, int]] = []
    for start, end in sorted(zip(starts.tolist(), ends.tolist(), strict=True)):
        if units and start < units[-1][1]:
            units[-1] = (units[-1][0], max(units[-1][1], end))
        else:
            units.append((start, end))
    return units


def _segments(units: list[tuple[int, int]], length: int) -> IntArray:
    """The continuum [0, length) as (begin, end, is_unit) rows: units and the gaps between."""
    rows: list[tuple[int, int, int]] = []
    position = 0
    for start, end in units:
        if start > position:
            rows.append((position, start, 0))
        rows.append((start, end, 1))
        position = end
    if position < length:
        rows.append((position, length, 0))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _pair_distance(first: IntArray, second: IntArray) -> float:
    """Sum of d2 over the segments of two coders (Krippendorff 1995; see the module)."""
    b1, e1, u1 = (first[:, k][:, None] for k in range(3))
    b2, e2, u2 = (second[:, k][None, :] for k in range(3))
    overlap = (b1 < e2) & (b2 < e1)
    both = overlap & (u1 == 1) & (u2 == 1)
    first_inside = (u1 == 1) & (u2 == 0) & (b2 <= b1) & (e1 <= e2)
    second_inside = (u1 == 0) & (u2 == 1) & (b1 <= b2) & (e2 <= e1)
    d2 = np.where(both, (b1 - b2) ** 2 + (e1 - e2) ** 2, 0)
    d2 = d2 + np.where(first_inside, (e1 - b1) ** 2, 0) + np.where(second_inside, (e2 - b2) ** 2, 0)
    return float(d2.sum())


def unitizing_disagreements(
    coders: list[list[tuple[int, int]]], length: int
) -> tuple[float, float]:
    """(D_o, D_e) of one label on one continuum of ``length`` characters, each coder given
    by their units [(begin, end), ...] (non-overlapping, in order); (0, 0) when no coder
    marked anything. Krippendorff (1995, 2004); the formulas are in the module docstring."""
    m = len(coders)
    units = np.array([u for coder in coders for u in coder], dtype=np.int64).reshape(-1, 2)
    if m < 2 or len(units) == 0 or length <= 0:
        return 0.0, 0.0
    segments = [_segments(coder, length) for coder in coders]
    observed = sum(
        _pair_distance(segments[i], segments[j]) for i in range(m) for j in range(i + 1, m)
    )
    d_o = 2.0 * observed / (m * (m - 1) * float(length) ** 2)
    unit_lengths = (units[:, 1] - units[:, 0]).astype(np.float64)
    gap_lengths = np.concatenate(
        [s[s[:, 2] == 0, 1] - s[s[:, 2] == 0, 0] for s in segments]
    ).astype(np.float64)
    n = len(unit_lengths)
    within = (n - 1) / 3.0 * (2 * unit_lengths**3 - 3 * unit_lengths**2 + unit_lengths)
    fits = np.clip(gap_lengths[None, :] - unit_lengths[:, None] + 1, 0, None)
    between = unit_lengths**2 * fits.sum(axis=1)
    denominator = m * length * (m * length - 1.0) - float((unit_lengths * (unit_lengths - 1)).sum())
    d_e = 2.0 / length * float((within + between).sum()) / denominator
    return d_o, d_e


def character_f1_sums(coders: list[list[tuple[int, int]]], length: int) -> tuple[float, float]:
    """(sum over coder pairs of |A & B|, sum over pairs of |A| + |B|) of one label on one
    response: with c_x coders marking character x, sum_x c_x (c_x - 1) / 2 and
    (m - 1) sum_x c_x."""
    m = len(coders)
    marks = np.zeros(length + 1, dtype=np.int64)
    for coder in coders:
        for start, end in coder:
            marks[start] += 1
            marks[end] -= 1
    count = np.cumsum(marks)[:length]
    return float((count * (count - 1)).sum() / 2), float((m - 1) * count.sum())


def _per_response(
    coder_response: IntArray,
    coder_annotator: IntArray,
    coder_length: IntArray,
    span: tuple[IntArray, IntArray, IntArray, IntArray, IntArray],
    n_labels: int,
) -> tuple[FloatArray, int]:
    """The (responses x labels * 4) features of the responses judged at least twice, and
    how many annotators judged them."""
    pairs = np.unique(np.column_stack([coder_response, coder_annotator]), axis=0)
    lengths = dict(zip(coder_response.tolist(), coder_length.tolist(), strict=True))
    responses, counts = np.unique(pairs[:, 0], return_counts=True)
    shared = responses[counts >= 2]
    s_response, s_annotator, s_label, s_start, s_end = span
    order = np.lexsort((s_label, s_annotator, s_response))
    s_response, s_annotator, s_label, s_start, s_end = (
        x[order] for x in (s_response, s_annotator, s_label, s_start, s_end)
    )
    features = np.zeros((len(shared), n_labels * _FEATURES))
    for row, response in enumerate(shared.tolist()):
        annotators = pairs[pairs[:, 0] == response, 1]
        lo, hi = np.searchsorted(s_response, [response, response + 1])
        length = int(lengths[response])
        for label in range(n_labels):
            coders = []
            for annotator in annotators.tolist():
                mine = (s_annotator[lo:hi] == annotator) & (s_label[lo:hi] == label)
                coders.append(_merged(s_start[lo:hi][mine], s_end[lo:hi][mine]))
            inter, total = character_f1_sums(coders, length)
            d_o, d_e = unitizing_disagreements(coders, length)
            features[row, label * _FEATURES : (label + 1) * _FEATURES] = (
                inter,
                total,
                length * d_o,
                length * d_e,
            )
    judged = pairs[np.isin(pairs[:, 0], shared), 1]
    return features, len(np.unique(judged))


def _figures(sums: FloatArray) -> FloatArray:
    """(b, labels * 4) sums to (b, 2 * (labels + 1)): F1 and alpha of each label, then of
    all labels pooled; nan where undefined."""
    per = sums.reshape(len(sums), -1, _FEATURES)
    pooled = per.sum(axis=1, keepdims=True)
    both = np.concatenate([per, pooled], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(both[:, :, 1] > 0, 2 * both[:, :, 0] / both[:, :, 1], np.nan)
        alpha = np.where(both[:, :, 3] > 0, 1 - both[:, :, 2] / both[:, :, 3], np.nan)
    return np.stack([f1, alpha], axis=2).reshape(len(sums), -1)


def span_agreement(
    coder_response: npt.ArrayLike,
    coder_annotator: npt.ArrayLike,
    coder_length: npt.ArrayLike,
    span_response: npt.ArrayLike,
    span_annotator: npt.ArrayLike,
    span_label: npt.ArrayLike,
    span_start: npt.ArrayLike,
    span_end: npt.ArrayLike,
    *,
    n_labels: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Character F1 and unitizing alpha, per label and over all labels, each with a
    bootstrap 95% interval over responses: ``{"char_f1": {"value", "ci"},
    "unitizing_alpha": {"value", "ci"}, "labels": [{"char_f1", "unitizing_alpha",
    "n_spans"}, ...], "n_items", "n_annotators", "n_spans"}``, ``n_items`` counting the
    responses judged at least twice (None where a figure is undefined)."""

    def ints(x: npt.ArrayLike) -> IntArray:
        return np.asarray(x, dtype=np.int64).reshape(-1)

    span = tuple(ints(x) for x in (span_response, span_annotator, span_label, span_start, span_end))
    features, n_annotators = _per_response(
        ints(coder_response), ints(coder_annotator), ints(coder_length), span, n_labels
    )
    point = _figures(features.sum(axis=0)[None])[0]
    boot = np.empty((0, len(point)))
    if len(features) and n_boot > 0:
        boot = bootstrap(
            features,
            np.ones(len(features), np.int64),
            n_boot,
            np.random.default_rng(seed),
            _figures,
        )

    def entry(position: int) -> dict[str, Any]:
        samples = boot[:, position] if len(boot) else np.empty(0)
        return ci_entry(float(point[position]), samples)

    counted = np.isin(span[0], np.unique(ints(coder_response)))
    labels = [
        {
            "char_f1": entry(2 * label),
            "unitizing_alpha": entry(2 * label + 1),
            "n_spans": int((span[2][counted] == label).sum()),
        }
        for label in range(n_labels)
    ]
    return {
        "char_f1": entry(2 * n_labels),
        "unitizing_alpha": entry(2 * n_labels + 1),
        "labels": labels,
        "n_items": len(features),
        "n_annotators": n_annotators,
        "n_spans": int(counted.sum()),
    }


def gold_span_f1(
    gold: list[tuple[int, int, int, str]], given: list[tuple[int, int, int, str]]
) -> dict[str, float]:
    """Character-level F1 of an answer's spans against the gold spans, per label: spans as
    (response, start, end, label); each label's characters (response, offset) of either
    side, 2 |gold & given| / (|gold| + |given|). Labels neither side marks are left out."""

    def characters(spans: list[tuple[int, int, int, str]]) -> dict[str, set[tuple[int, int]]]:
        marked: dict[str, set[tuple[int, int]]] = {}
        for response, start, end, label in spans:
            marked.setdefault(label, set()).update((response, x) for x in range(start, end))
        return marked

    expected, answered = characters(gold), characters(given)
    scores = {}
    for label in sorted(set(expected) | set(answered)):
        a, b = expected.get(label, set()), answered.get(label, set())
        scores[label] = 2 * len(a & b) / (len(a) + len(b))
    return scores
