"""Agreement metrics against published worked examples and reference implementations."""

import itertools

import krippendorff
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import sparse
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation.stats import agreement as ag
from annotation.stats import resampling
from annotation.stats.agreement import (
    LEVELS,
    Ratings,
    agreement_report,
    agreement_reports,
    annotator_agreement,
    cohen_kappa_mean,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    majority_agreement,
    percent_agreement,
    reference_agreement,
)

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders x 12
# units with missing values.  Also Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed.,
# p. 120, shipped as irrCAC's `cac.raw4raters`.  Rows are units, columns coders.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 1, nan, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [nan, 5, 5, 5],
        [nan, nan, 1, 1],
        [nan, nan, 3, nan],
    ]
)

# Wikipedia "Krippendorff's alpha" example (3 coders x 15 units), also the doctest of the
# `krippendorff` package: nominal 0.691358, interval 0.810845.
WIKIPEDIA_3_CODERS = np.array(
    [
        [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
        [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
        [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
    ]
).T

# Fleiss (1971) / Wikipedia "Fleiss' kappa" worked example, as in statsmodels' tests:
# 10 subjects x 5 categories, 14 raters each; kappa = 0.210.
FLEISS_WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Gwet (2014) / irrCAC README `distrib.6raters`: 15 subjects x 5 categories, 6 raters each.
# Published: AC1 = 0.4448007, Fleiss' kappa = 0.4139265.
GWET_6_RATERS = np.array(
    [
        [0, 0, 0, 6, 0],
        [0, 3, 0, 0, 3],
        [0, 1, 4, 0, 1],
        [0, 0, 0, 0, 6],
        [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0],
        [0, 0, 4, 0, 2],
        [2, 0, 3, 1, 0],
        [2, 0, 0, 4, 0],
        [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0],
        [1, 1, 0, 4, 0],
        [0, 3, 3, 0, 0],
        [1, 0, 0, 5, 0],
        [0, 2, 0, 3, 1],
    ]
)

# Gwet (2014) / irrCAC README `cont3x3abstractors`: 2 raters, 100 subjects (rows rater A,
# columns rater B).  Published: Cohen 0.7964094, AC1 0.8493305, alpha 0.7972585, pa 0.89.
GWET_2_RATERS_TABLE = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])


def ratings_from_counts(table: np.ndarray) -> Ratings:
    """Expand a subjects x categories count table into ratings (raters are anonymous)."""
    item, value = [], []
    for i, row in enumerate(table):
        for k, c in enumerate(row):
            item += [i] * int(c)
            value += [k] * int(c)
    item = np.array(item)
    annotator = np.concatenate([np.arange(c) for c in np.bincount(item)])
    return Ratings(item, annotator, np.array(value), n_categories=table.shape[1])


def two_rater_matrix(table: np.ndarray) -> np.ndarray:
    pairs = [(a, b) for a, b in itertools.product(range(len(table)), repeat=2)]
    return np.array([p for p in pairs for _ in range(table[p])])


def random_matrix(seed: int, n_items: int = 40, n_annotators: int = 5, k: int = 4, miss=0.3):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, k, size=(n_items, n_annotators)).astype(float)
    x[rng.random(x.shape) < miss] = nan
    return x


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_alpha_matches_krippendorff_2011_worked_example(level, expected):
    assert krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.691358), ("interval", 0.810845)])
def test_alpha_matches_wikipedia_three_coder_example(level, expected):
    assert krippendorff_alpha(WIKIPEDIA_3_CODERS, level) == pytest.approx(expected, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    level=st.sampled_from(LEVELS),
    n_items=st.integers(2, 30),
    n_annotators=st.integers(2, 7),
    k=st.integers(2, 6),
    miss=st.floats(0.0, 0.6),
)
def test_alpha_matches_krippendorff_package_on_random_data(
    seed, level, n_items, n_annotators, k, miss
):
    x = random_matrix(seed, n_items, n_annotators, k, miss)
    pairable_values = x[(~np.isnan(x)).sum(axis=1) >= 2]
    assume(len(np.unique(pairable_values[~np.isnan(pairable_values)])) >= 2)
    expected = krippendorff.alpha(x.T, level_of_measurement=level)
    assert krippendorff_alpha(x, level) == pytest.approx(expected, abs=1e-9)


def test_interval_alpha_on_continuous_values_matches_package():
    rng = np.random.default_rng(3)
    x = rng.normal(50, 10, size=(60, 5)) + rng.normal(0, 10, size=(60, 1))
    x[rng.random(x.shape) < 0.4] = nan
    assert len(np.unique(x[~np.isnan(x)])) > ag.MAX_CATEGORIES  # the moment-based path
    expected = krippendorff.alpha(x.T, level_of_measurement="interval")
    assert krippendorff_alpha(x, "interval") == pytest.approx(expected, abs=1e-9)


def test_fleiss_matches_wikipedia_worked_example():
    assert fleiss_kappa(ratings_from_counts(FLEISS_WIKIPEDIA)) == pytest.approx(0.210, abs=5e-4)


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_matches_statsmodels_on_complete_data(seed):
    x = random_matrix(seed, n_items=60, n_annotators=6, k=4, miss=0.0).astype(int)
    table = np.stack([(x == k).sum(axis=1) for k in range(4)], axis=1)
    assert fleiss_kappa(x) == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)


def test_fleiss_and_ac1_match_gwet_six_rater_example():
    ratings = ratings_from_counts(GWET_6_RATERS)
    assert fleiss_kappa(ratings) == pytest.approx(0.4139265, abs=1e-7)
    assert gwet_ac1(ratings) == pytest.approx(0.4448007, abs=1e-7)


def test_two_rater_metrics_match_gwet_contingency_example():
    x = two_rater_matrix(GWET_2_RATERS_TABLE)
    assert cohen_kappa_mean(x) == pytest.approx(0.7964094, abs=1e-7)
    assert gwet_ac1(x) == pytest.approx(0.8493305, abs=1e-7)
    assert percent_agreement(x) == pytest.approx(0.89)
    assert krippendorff_alpha(x, "nominal") == pytest.approx(0.7972585, abs=1e-7)


def test_percent_agreement_matches_gwet_missing_data_example():
    # irrCAC pa.coeff.raw(cac.raw4raters): 0.8181818 over the 11 units rated twice or more.
    assert percent_agreement(KRIPPENDORFF_2011) == pytest.approx(0.8181818, abs=1e-7)


def test_ac1_with_missing_ratings_matches_hand_computation():
    # Gwet's formula on KRIPPENDORFF_2011, by hand.  Unit 12 (one rating) is excluded from the
    # category shares too, by our rule; Gwet keeps it there and publishes 0.77544.
    pa = (8 * 1 + 0.5 + 0 + 0.5) / 11  # units 2 and 8 agree on 3 of 6 pairs, unit 6 on none
    pi = np.array([3, 3.25, 2.5, 1.25, 1]) / 11  # mean share of each category per unit
    pe = (pi * (1 - pi)).sum() / (5 - 1)
    assert gwet_ac1(KRIPPENDORFF_2011) == pytest.approx((pa - pe) / (1 - pe), abs=1e-12)
    fleiss_pe = (pi**2).sum()
    expected = (pa - fleiss_pe) / (1 - fleiss_pe)
    assert fleiss_kappa(KRIPPENDORFF_2011) == pytest.approx(expected, abs=1e-12)


def test_ac1_chance_term_uses_declared_number_of_categories():
    # Same data on a 5-point scale of which only 3 points were used: q = 5 in pe.
    x = two_rater_matrix(GWET_2_RATERS_TABLE)
    counts = np.stack([(x == k).sum(axis=1) for k in range(3)], axis=1)
    pa = 0.89
    pi = (counts / 2).mean(axis=0)
    pe = (pi * (1 - pi)).sum() / (5 - 1)
    ac1 = gwet_ac1(Ratings.from_matrix(x, n_categories=5))
    assert ac1 == pytest.approx((pa - pe) / (1 - pe), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_cohen_kappa_mean_is_mean_of_statsmodels_pairwise_kappas(seed):
    x = random_matrix(seed, n_items=50, n_annotators=4, k=3, miss=0.4)
    kappas = []
    for a, b in itertools.combinations(range(4), 2):
        both = ~np.isnan(x[:, a]) & ~np.isnan(x[:, b])
        table = np.zeros((3, 3))
        np.add.at(table, (x[both, a].astype(int), x[both, b].astype(int)), 1)
        kappas.append(cohens_kappa(table, return_results=False))
    assert cohen_kappa_mean(x, min_shared=5) == pytest.approx(np.mean(kappas), abs=1e-12)


def test_cohen_pairs_sharing_too_few_items_are_skipped():
    # Annotators 0 and 1 share 6 items, annotator 2 shares only 2 items with each.
    x = np.full((8, 3), -1)
    x[:6, 0] = [0, 1, 2, 0, 1, 2]
    x[:6, 1] = [0, 1, 2, 0, 1, 1]
    x[6:, 0] = [0, 1]
    x[6:, 2] = [1, 1]
    alone = cohen_kappa_mean(x[:6, :2], min_shared=5)
    assert cohen_kappa_mean(x, min_shared=5) == pytest.approx(alone)
    assert cohen_kappa_mean(x, min_shared=50) != cohen_kappa_mean(x, min_shared=50)  # nan


def test_items_with_one_rating_never_count():
    x = random_matrix(7, n_items=30, n_annotators=4, k=3, miss=0.2)
    extra = np.full((5, 4), nan)
    extra[np.arange(5), np.arange(5) % 4] = [0, 1, 2, 0, 1]  # one rating each
    padded = np.vstack([x, extra])
    for metric in (fleiss_kappa, gwet_ac1, percent_agreement, cohen_kappa_mean):
        assert metric(padded) == pytest.approx(metric(x), abs=1e-12)
    assert krippendorff_alpha(padded, "ordinal") == pytest.approx(krippendorff_alpha(x, "ordinal"))


def test_long_format_with_database_ids_equals_dense_matrix():
    x = random_matrix(11, n_items=40, n_annotators=5, k=4, miss=0.3)
    item, annotator = np.nonzero(~np.isnan(x))
    value = x[item, annotator].astype(int)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(item))
    long = Ratings(item[order] * 97 + 10_000, annotator[order] * 13 + 5, value[order])
    dense = Ratings.from_matrix(x)
    for level in LEVELS:
        assert krippendorff_alpha(long, level) == pytest.approx(krippendorff_alpha(dense, level))
    for metric in (fleiss_kappa, gwet_ac1, percent_agreement, cohen_kappa_mean):
        assert metric(long) == pytest.approx(metric(dense), abs=1e-12)


def test_integer_matrix_uses_negative_values_as_missing():
    x = np.nan_to_num(KRIPPENDORFF_2011, nan=-1).astype(int)
    r = Ratings.from_matrix(x)
    assert len(r) == int((~np.isnan(KRIPPENDORFF_2011)).sum())
    assert krippendorff_alpha(r, "ordinal") == pytest.approx(0.815, abs=5e-4)


def test_duplicate_rating_of_an_item_by_one_annotator_raises():
    r = Ratings(np.array([0, 0, 1]), np.array([3, 3, 3]), np.array([1, 2, 1]))
    with pytest.raises(ValueError, match="more than once"):
        fleiss_kappa(r)


def test_constant_ratings_give_undefined_kappa():
    x = np.zeros((10, 3), dtype=int)
    assert np.isnan(fleiss_kappa(x))
    assert np.isnan(krippendorff_alpha(x))
    assert percent_agreement(x) == 1.0
    report = agreement_report(x, n_boot=20)
    assert report["fleiss_kappa"] == {"value": None, "ci": [None, None]}


def test_report_has_documented_shape():
    report = agreement_report(KRIPPENDORFF_2011, "ordinal", n_boot=200, seed=1)
    assert report["n_items"] == 12
    assert report["n_items_pairable"] == 11
    assert report["n_annotators"] == 4
    assert report["n_judgments"] == 41
    assert report["krippendorff_alpha"]["level"] == "ordinal"
    assert report["cohen_kappa_mean"]["n_pairs"] == 6
    for name in ("krippendorff_alpha", "fleiss_kappa", "cohen_kappa_mean", "gwet_ac1"):
        entry = report[name]
        lo, hi = entry["ci"]
        assert lo <= entry["value"] <= hi
    assert report["krippendorff_alpha"]["value"] == pytest.approx(0.815, abs=5e-4)


def test_report_is_reproducible_for_a_seed():
    x = random_matrix(5, n_items=200)
    assert agreement_report(x, n_boot=100, seed=3) == agreement_report(x, n_boot=100, seed=3)
    assert agreement_report(x, n_boot=100, seed=3) != agreement_report(x, n_boot=100, seed=4)


@pytest.mark.parametrize("level", LEVELS)
def test_bootstrap_round_equals_metric_on_resampled_items(level):
    # The core of the fast bootstrap: weighting item statistics by resample counts gives the
    # same numbers as recomputing every metric on the resampled data set.
    x = random_matrix(21, n_items=40, n_annotators=5, k=4, miss=0.3)
    r = Ratings.from_matrix(x, n_categories=4)
    prep = r.prepared
    pairable_rows = np.flatnonzero(prep.pairable)
    draw = np.random.default_rng(2).integers(0, len(pairable_rows), len(pairable_rows))
    resampled = Ratings.from_matrix(x[pairable_rows[draw]], n_categories=4)

    features = ag.count_features(prep.counts[prep.pairable])
    weights = np.bincount(draw, minlength=len(pairable_rows)).astype(float)
    alpha, fleiss, ac1, pa = ag.count_statistics((weights @ features)[None], prep, level)[0]
    assert alpha == pytest.approx(krippendorff_alpha(resampled, level), abs=1e-12)
    assert fleiss == pytest.approx(fleiss_kappa(resampled), abs=1e-12)
    assert ac1 == pytest.approx(gwet_ac1(resampled), abs=1e-12)
    assert pa == pytest.approx(percent_agreement(resampled), abs=1e-12)

    tables = ag.pair_tables(prep, min_shared=2)
    size = tables.n_pairs * tables.k**2
    per_item = sparse.csr_matrix(
        (np.ones(len(tables.obs_row)), (tables.obs_row, tables.obs_cell)),
        shape=(len(pairable_rows), size),
    )
    cohen = ag.cohen_from_tables((per_item.T @ weights)[None], tables.n_pairs, tables.k, 2)
    assert cohen[0, 0] == pytest.approx(cohen_kappa_mean(resampled, min_shared=2), abs=1e-12)


def test_bootstrap_interval_agrees_with_naive_item_resampling():
    x = random_matrix(8, n_items=300, n_annotators=4, k=3, miss=0.2)
    x[:, 1] = np.where(np.isnan(x[:, 1]), nan, x[:, 0])  # some real agreement
    rng = np.random.default_rng(0)
    rows = np.flatnonzero((~np.isnan(x)).sum(axis=1) >= 2)
    naive = [
        krippendorff.alpha(x[rng.choice(rows, len(rows))].T, level_of_measurement="nominal")
        for _ in range(500)
    ]
    lo, hi = np.percentile(naive, [2.5, 97.5])
    fast_lo, fast_hi = agreement_report(x, "nominal", n_boot=500)["krippendorff_alpha"]["ci"]
    assert fast_lo == pytest.approx(lo, abs=0.025)
    assert fast_hi == pytest.approx(hi, abs=0.025)


def test_cohen_interval_agrees_with_naive_item_resampling():
    # 40 annotators (too many to collapse items into patterns): items themselves are drawn.
    rng = np.random.default_rng(3)
    n_items, n_annotators = 300, 40
    truth = rng.integers(0, 3, n_items)
    x = np.full((n_items, n_annotators), nan)
    for row in range(n_items):
        raters = rng.choice(n_annotators, 4, replace=False)
        x[row, raters] = np.where(rng.random(4) < 0.7, truth[row], rng.integers(0, 3, 4))
    naive = [
        cohen_kappa_mean(x[rng.integers(0, n_items, n_items)], min_shared=1) for _ in range(400)
    ]
    lo, hi = np.percentile(naive, [2.5, 97.5])
    report = agreement_report(x, "nominal", n_boot=400, min_shared=1)["cohen_kappa_mean"]
    assert report["n_pairs"] <= ag.MAX_BOOTSTRAP_PAIRS
    assert report["ci"][0] == pytest.approx(lo, abs=0.02)
    assert report["ci"][1] == pytest.approx(hi, abs=0.02)


def _team_ratings(seed: int, n_items: int = 600, n_teams: int = 8, team: int = 5, k: int = 3):
    """Fixed teams of annotators (too many in all to collapse whole rows of the reliability
    matrix), each item rated by one team: many items repeat their team's labels exactly."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    team_of = rng.integers(0, n_teams, n_items)
    item = np.repeat(np.arange(n_items) * 3 + 1, team)
    annotator = (team_of[:, None] * team + np.arange(team)).ravel() + 50
    value = np.where(
        rng.random(len(item)) < 0.85, np.repeat(truth, team), rng.integers(0, k, len(item))
    )
    return Ratings(item, annotator, value)


def _tables_by_item(r: Ratings, min_shared: int) -> sparse.csr_matrix:
    prep = r.prepared
    tables = ag.pair_tables(prep, min_shared)
    return sparse.csr_matrix(
        (np.ones(len(tables.obs_row)), (tables.obs_row, tables.obs_cell)),
        shape=(int(prep.pairable.sum()), tables.n_pairs * tables.k**2),
    )


def test_rows_of_a_team_layout_collapse_into_far_fewer_distinct_rows():
    f = _tables_by_item(_team_ratings(1), min_shared=5)
    first, _ = resampling.identical_rows(f)
    assert len(first) < f.shape[0] / 2


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_summation_over_distinct_rows_gives_the_sums_over_units(scale):
    # Integer statistics are summed in float32 over the distinct rows: exactly the float64
    # sums over every unit; other statistics are summed in float64.
    f = _tables_by_item(_team_ratings(2), min_shared=5) * scale
    weights = np.random.default_rng(0).poisson(1.0, (f.shape[0], 30)).astype(np.float64)
    dtype = np.float32 if resampling.sums_exact_in_float32(f, f.shape[0]) else np.float64
    assert dtype is (np.float32 if scale == 1.0 else np.float64)
    (sums,) = resampling.sparse_summation([f], dtype)(weights.T.astype(dtype))
    expected = f.T @ weights
    assert sums.dtype == np.float64
    if scale == 1.0:
        assert np.array_equal(sums, expected)
    else:
        np.testing.assert_allclose(sums, expected, rtol=1e-12)


def test_matrices_summed_together_give_each_its_own_sums():
    # One stacked first step for all matrices, units reordered: the same sums as one by one.
    rng = np.random.default_rng(5)
    team = [_tables_by_item(_team_ratings(seed), min_shared=5) for seed in (3, 3, 4)]
    team[1] = sparse.csr_matrix(team[1][:, ::-1])  # other columns: other distinct rows
    n_units = team[0].shape[0]
    dense = np.ceil(rng.random((n_units, 50)) * 3) * (rng.random((n_units, 50)) < 0.05)
    dense[:40] = 0  # units with no entry in this matrix only
    crowd = sparse.csr_matrix(dense)
    matrices = [team[0], crowd, team[1], team[2]]
    assert [resampling.distinct_row_gather(f) is None for f in matrices] == [
        False,
        True,
        False,
        False,
    ]
    counts = rng.integers(0, 4, (30, n_units)).astype(np.uint8)
    summation = resampling.sparse_summation(matrices, np.float32)
    for f, sums in zip(matrices, summation(counts), strict=True):
        assert sums.dtype == np.float64
        assert np.array_equal(sums, f.T @ counts.T.astype(np.float64))


@pytest.mark.parametrize("min_shared", [1, 5])
def test_pair_cells_are_laid_out_in_rows_without_a_sort(min_shared):
    # The pair observations come item by item and by pair: the rows scipy would sort.
    x = random_matrix(9, n_items=200, n_annotators=8, k=3, miss=0.4)
    for r in (Ratings.from_matrix(x), _team_ratings(0)):
        prep = r.prepared
        tables = ag.pair_tables(prep, min_shared)
        rows = ag.tables_by_row(tables, int(prep.pairable.sum()))
        assert np.all(np.diff(tables.obs_row) >= 0)
        assert np.array_equal(rows.indices, tables.obs_cell)  # the entries as they stand
        assert rows.has_canonical_format
        assert (rows != _tables_by_item(r, min_shared)).nnz == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cohen_report_over_distinct_rows_equals_the_report_over_items(seed, monkeypatch):
    # Same draws, exact sums: summing over distinct rows changes no number of the report.
    r = _team_ratings(seed)
    merged = agreement_report(r, n_boot=300, seed=seed)
    monkeypatch.setattr(resampling, "identical_rows", lambda f: None)
    per_item = agreement_report(r, n_boot=300, seed=seed)
    assert merged == per_item
    assert merged["cohen_kappa_mean"]["n_pairs"] == 80


@pytest.mark.parametrize("chunk_elements", [4_000_000, 700])
def test_a_pipelined_bootstrap_gives_the_same_report(chunk_elements, monkeypatch):
    # A large bootstrap draws the next chunk of resamples while a second thread sums the
    # last one: the same draws in the same order, so the same report, one chunk or many.
    item, annotator, answers = _criteria_of_one_crowd(300, 40)
    ratings = {
        f"c{i}": (Ratings(item, annotator, values, n_categories=3), "nominal")
        for i, values in enumerate(answers)
    }
    monkeypatch.setattr(resampling, "CHUNK_ELEMENTS", chunk_elements)
    in_line = agreement_reports(ratings, n_boot=200, seed=5, min_shared=2)
    monkeypatch.setattr(resampling, "PIPELINE_ELEMENTS", 0)
    calls = []
    pipelined = resampling.pipelined
    monkeypatch.setattr(resampling, "pipelined", lambda *a: calls.append(1) or pipelined(*a))
    assert agreement_reports(ratings, n_boot=200, seed=5, min_shared=2) == in_line
    assert calls


def test_cohen_interval_of_teams_agrees_with_naive_item_resampling():
    r = _team_ratings(3, n_items=400)
    x = np.full((400, 40), nan)
    x[(r.item - 1) // 3, r.annotator - 50] = r.value
    rng = np.random.default_rng(6)
    naive = [cohen_kappa_mean(x[rng.integers(0, 400, 400)], min_shared=5) for _ in range(600)]
    report = agreement_report(r, n_boot=600, seed=1)["cohen_kappa_mean"]
    assert report["value"] == cohen_kappa_mean(x, min_shared=5)
    lo, hi = np.percentile(naive, [2.5, 97.5])
    assert report["ci"][0] == pytest.approx(lo, abs=0.02)
    assert report["ci"][1] == pytest.approx(hi, abs=0.02)


def test_continuous_interval_report_has_only_alpha():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)) + rng.normal(size=(300, 1))
    report = agreement_report(x, "interval", n_boot=100)
    expected = krippendorff_alpha(x, "interval")  # checked against the package above
    assert report["krippendorff_alpha"]["value"] == pytest.approx(expected)
    assert report["krippendorff_alpha"]["ci"][0] < expected < report["krippendorff_alpha"]["ci"][1]
    assert report["fleiss_kappa"]["value"] is None


def test_report_on_fifty_thousand_ratings_runs():
    # 10k items x 5 annotators; the product target is 1M ratings in a few seconds.
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 10_000)
    x = np.where(rng.random((10_000, 5)) < 0.7, truth[:, None], rng.integers(0, 3, (10_000, 5)))
    report = agreement_report(x, "ordinal", n_boot=1000)
    assert report["n_judgments"] == 50_000
    assert report["krippendorff_alpha"]["ci"][0] < report["krippendorff_alpha"]["ci"][1]


def test_report_for_crowd_of_many_annotators_runs():
    # 2000 annotators, each item rated by 4 of them: the sparse (no dense matrix) path.
    rng = np.random.default_rng(0)
    n_items = 3000
    annotator = np.stack([rng.choice(2000, 4, replace=False) for _ in range(n_items)]).ravel()
    item = np.repeat(np.arange(n_items), 4)
    value = rng.integers(0, 3, len(item))
    report = agreement_report(Ratings(item, annotator, value), n_boot=50, min_shared=2)
    assert report["n_annotators"] <= 2000
    assert report["krippendorff_alpha"]["value"] == pytest.approx(
        krippendorff_alpha(Ratings(item, annotator, value))
    )


def _criteria_of_one_crowd(n_items: int, pool: int, per_item: int = 4, seed: int = 11):
    """Several criteria answered in the same judgments: the same (item, annotator) rows."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_items)
    item = np.repeat(np.arange(n_items) * 7 + 3, per_item)  # database-like ids
    annotator = np.concatenate([rng.choice(pool, per_item, replace=False) for _ in range(n_items)])
    answers = [
        np.where(
            rng.random(len(item)) < share, np.repeat(truth, per_item), rng.integers(0, 3, len(item))
        )
        for share in (0.8, 0.6, 0.3)
    ]
    return item, annotator + 100, answers


@pytest.mark.parametrize(
    ("n_items", "pool"),
    [
        (400, 6),  # a panel: items collapse into patterns of ratings
        (300, 40),  # many annotators: the items themselves are resampled, together
        (2500, 400),  # a crowd of more than 1,000 annotator pairs: a sample of pairs
    ],
)
def test_reports_of_ratings_of_the_same_rows_equal_each_report_alone(n_items, pool):
    item, annotator, answers = _criteria_of_one_crowd(n_items, pool)
    ratings = {
        "first": (Ratings(item, annotator, answers[0], n_categories=3), "nominal"),
        "second": (Ratings(item.copy(), annotator.copy(), answers[1]), "ordinal"),
        "third": (Ratings(item, annotator, answers[2] * 2), "interval"),
        # Different rows (one judgment fewer): computed on their own, same answer.
        "fewer": (Ratings(item[1:], annotator[1:], answers[0][1:]), "nominal"),
    }
    together = agreement_reports(ratings, n_boot=200, seed=4, min_shared=2)
    assert list(together) == list(ratings)
    for name, (r, level) in ratings.items():
        alone = agreement_report(r, level, n_boot=200, seed=4, min_shared=2)
        assert together[name] == alone, name
    assert (
        together["first"]["cohen_kappa_mean"]["ci"] != together["second"]["cohen_kappa_mean"]["ci"]
    )


def test_reports_check_every_level_before_computing():
    x = random_matrix(1, n_items=20)
    with pytest.raises(ValueError, match="level"):
        agreement_reports({"a": (x, "nominal"), "b": (x, "ratio")})


def test_annotator_agreement_is_leave_one_out_majority():
    x = np.array(
        [
            [0, 0, 0, 1],  # the others' majority is 0 for everyone: raters 0-2 agree, 3 not
            [1, 1, 2, 2],  # every rater's others split 2-1 against them: all disagree
            [2, 2, -1, -1],  # the single other rating is the majority: both agree
            [0, -1, -1, -1],  # lonely rating: not counted
        ]
    )
    result = annotator_agreement(x)
    assert result[0] == {"annotator": 0, "agreement": 2 / 3, "n": 3, "n_ratings": 4}
    assert result[1] == {"annotator": 1, "agreement": 2 / 3, "n": 3, "n_ratings": 3}
    assert result[2] == {"annotator": 2, "agreement": 1 / 2, "n": 2, "n_ratings": 2}
    assert result[3] == {"annotator": 3, "agreement": 0.0, "n": 2, "n_ratings": 2}


def test_annotator_agreement_skips_items_where_the_others_tie():
    x = np.array([[0, 1, 0], [0, 0, 1]])  # annotator 0's others tie on both items
    result = annotator_agreement(x)
    assert result[0]["n"] == 0
    assert result[0]["agreement"] is None
    assert [result[1]["n"], result[2]["n"]] == [1, 1]


def test_majority_agreement_compares_judge_with_human_majority():
    humans = Ratings(
        item=np.array([10, 10, 10, 11, 11, 12, 12, 13]),
        annotator=np.array([1, 2, 3, 1, 2, 1, 2, 1]),
        value=np.array([1, 1, 0, 0, 0, 0, 1, 1]),
    )
    # item 10 majority 1, item 11 majority 0, item 12 tied, item 13 one rating, 14 unknown
    judge = Ratings(
        item=np.array([10, 11, 12, 13, 14, 10]),
        annotator=np.array([99, 99, 99, 99, 99, 98]),
        value=np.array([1, 1, 0, 1, 1, 1]),
    )
    result = majority_agreement(humans, judge)
    assert result["agreement"] == pytest.approx(2 / 3)
    assert result["n"] == 3
    assert result["n_no_majority"] == 1
    assert result["n_unmatched"] == 2
    assert [
        {key: row[key] for key in ("annotator", "agreement", "n")} for row in result["by_judge"]
    ] == [
        {"annotator": 98, "agreement": 1.0, "n": 1},
        {"annotator": 99, "agreement": 0.5, "n": 2},
    ]
    single = majority_agreement(humans, judge, min_reference_ratings=1)
    assert single["n"] == 4


def test_cohen_interval_over_a_crowd_is_bootstrapped_on_a_sample_of_pairs_around_the_estimate():
    rng = np.random.default_rng(7)
    n_items, per_item, pool = 3000, 5, 300
    truth = rng.integers(0, 3, n_items)
    item = np.repeat(np.arange(n_items), per_item)
    annotator = np.concatenate([rng.choice(pool, per_item, replace=False) for _ in range(n_items)])
    value = np.where(rng.random(len(item)) < 0.8, truth[item], rng.integers(0, 3, len(item)))
    report = agreement_report(Ratings(item, annotator, value), n_boot=200, min_shared=1)
    cohen = report["cohen_kappa_mean"]
    assert cohen["n_pairs"] > 1000
    assert cohen["ci"][0] <= cohen["value"] <= cohen["ci"][1]


def _judged_crowd(seed: int, n_items: int = 400, k: int = 3, judge_accuracy: float = 0.7):
    """Three humans per item (80% follow the item's truth) and one judge (judge_accuracy),
    with the majority labels as a two-rater table against the judge's labels."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    item = np.repeat(np.arange(n_items), 3)
    value = np.where(rng.random(len(item)) < 0.8, truth[item], rng.integers(0, k, len(item)))
    judged = np.where(rng.random(n_items) < judge_accuracy, truth, rng.integers(0, k, n_items))
    counts = np.zeros((n_items, k), dtype=np.int64)
    np.add.at(counts, (item, value), 1)
    top = counts.max(axis=1)
    majority = np.where((counts == top[:, None]).sum(axis=1) == 1, counts.argmax(axis=1), -1)
    humans = Ratings(item, np.tile([1, 2, 3], n_items), value)
    judge = Ratings(np.arange(n_items), np.full(n_items, 77), judged)
    return humans, judge, majority, judged


def _table(first: np.ndarray, second: np.ndarray, k: int) -> np.ndarray:
    table = np.zeros((k, k))
    np.add.at(table, (first, second), 1)
    return table


@pytest.mark.parametrize("seed", range(4))
def test_judge_kappa_with_the_human_majority_matches_statsmodels(seed):
    humans, judge, majority, judged = _judged_crowd(seed)
    row = majority_agreement(humans, judge, n_boot=0)["by_judge"][0]
    decided = majority >= 0
    table = _table(majority[decided], judged[decided], 3)
    assert row["n"] == decided.sum()
    assert row["agreement"] == pytest.approx(np.trace(table) / table.sum())
    assert row["cohen_kappa"]["value"] == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)
    assert row["cohen_kappa"]["ci"] == [None, None]


def test_judge_kappa_interval_agrees_with_naive_item_resampling_and_the_asymptotic_one():
    humans, judge, majority, judged = _judged_crowd(11, n_items=600)
    row = majority_agreement(humans, judge, n_boot=2000)["by_judge"][0]
    decided = np.flatnonzero(majority >= 0)
    rng = np.random.default_rng(5)
    naive = []
    for _ in range(2000):
        drawn = rng.choice(decided, len(decided))
        naive.append(cohens_kappa(_table(majority[drawn], judged[drawn], 3)).kappa)
    lo, hi = np.percentile(naive, [2.5, 97.5])
    assert row["cohen_kappa"]["ci"][0] == pytest.approx(lo, abs=0.01)
    assert row["cohen_kappa"]["ci"][1] == pytest.approx(hi, abs=0.01)
    # statsmodels' interval: kappa +- 1.96 of its asymptotic standard error.
    asymptotic = cohens_kappa(_table(majority[decided], judged[decided], 3))
    assert row["cohen_kappa"]["ci"][0] == pytest.approx(asymptotic.kappa_low, abs=0.015)
    assert row["cohen_kappa"]["ci"][1] == pytest.approx(asymptotic.kappa_upp, abs=0.015)


def test_each_judge_gets_its_own_kappa_whatever_the_other_judges():
    humans, judge, _, _ = _judged_crowd(3)
    other = Ratings(judge.item, np.full(len(judge), 78), (judge.value + 1) % 3)
    both = Ratings(
        np.concatenate([judge.item, other.item]),
        np.concatenate([judge.annotator, other.annotator]),
        np.concatenate([judge.value, other.value]),
    )
    alone = majority_agreement(humans, judge, n_boot=200)["by_judge"][0]
    together = majority_agreement(humans, both, n_boot=200)["by_judge"]
    assert [row["annotator"] for row in together] == [77, 78]
    assert together[0] == alone
    assert together[1]["cohen_kappa"]["value"] < 0 < alone["cohen_kappa"]["value"]


def test_judge_kappa_is_undefined_when_both_always_give_one_label():
    humans = Ratings(np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2]), np.array([0, 0, 0, 0]))
    judge = Ratings(np.array([1, 2]), np.array([9, 9]), np.array([0, 0]))
    row = majority_agreement(humans, judge, n_boot=100)["by_judge"][0]
    assert row["agreement"] == 1.0
    assert row["cohen_kappa"] == {"value": None, "ci": [None, None]}


def test_a_judge_without_compared_items_has_no_kappa():
    humans = Ratings(np.array([1, 1]), np.array([1, 2]), np.array([0, 1]))  # a tie
    judge = Ratings(np.array([1, 5]), np.array([9, 9]), np.array([0, 0]))
    row = majority_agreement(humans, judge, n_boot=100)["by_judge"][0]
    assert row["n"] == 0 and row["agreement"] is None
    assert row["cohen_kappa"] == {"value": None, "ci": [None, None]}


def test_reference_agreement_counts_units_with_a_label_and_a_reference():
    label = np.array([0, 1, 1, -1, 0, 1])
    reference = np.array([0, 0, 1, 1, -1, 1])
    item = np.array([1, 1, 2, 3, 4, 5])
    result = reference_agreement(label, reference, item, n_boot=0)
    assert result == {"value": 0.75, "ci": [None, None], "n": 4}


def test_reference_agreement_without_any_unit_to_compare_is_undefined():
    result = reference_agreement([-1, 0], [1, -1], [1, 2], n_boot=100)
    assert result == {"value": None, "ci": [None, None], "n": 0}


def test_reference_agreement_interval_agrees_with_naive_resampling_of_items():
    rng = np.random.default_rng(2)
    n_items = 500
    pairs = rng.integers(1, 4, n_items)  # one to three units (pairs) per item
    item = np.repeat(np.arange(n_items), pairs)
    # Units of one item tend to agree together: the interval must see the clusters.
    item_agrees = rng.random(n_items) < 0.7
    agrees = np.where(rng.random(len(item)) < 0.9, item_agrees[item], ~item_agrees[item])
    reference = rng.integers(0, 2, len(item))
    label = np.where(agrees, reference, 1 - reference)
    result = reference_agreement(label, reference, item, n_boot=2000)
    assert result["value"] == pytest.approx(agrees.mean())
    assert result["n"] == len(item)
    hits = np.bincount(item, weights=agrees)
    units = np.bincount(item)
    naive = []
    for _ in range(2000):
        drawn = rng.integers(0, n_items, n_items)
        naive.append(hits[drawn].sum() / units[drawn].sum())
    lo, hi = np.percentile(naive, [2.5, 97.5])
    assert result["ci"][0] == pytest.approx(lo, abs=0.006)
    assert result["ci"][1] == pytest.approx(hi, abs=0.006)
    # Resampling units as if independent would give a narrower interval.
    assert hi - lo > 1.2 * 2 * 1.96 * np.sqrt(agrees.mean() * (1 - agrees.mean()) / len(item))
