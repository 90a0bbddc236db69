"""Listwise rankings: Kendall's W against scipy's Friedman test, alpha over ranks against the
krippendorff package, Plackett-Luce against choix, and a simulated study recovering the truth."""

import itertools

import choix
import krippendorff
import numpy as np
import pytest
from scipy import stats as scipy_stats

from annotation.stats.listwise import (
    first_shown_first,
    implied_pairs,
    kendall_w,
    mid_ranks,
    plackett_luce,
    rank_alpha,
    ranking_agreement,
    ranking_leaderboards,
)


def long_rows(rankings):
    """[(item, annotator, [[response, ...], ...]), ...] -> long-format columns."""
    cols = {"ranking": [], "item": [], "annotator": [], "response": [], "group": []}
    for number, (item, annotator, groups) in enumerate(rankings):
        for place, group in enumerate(groups):
            for response in group:
                cols["ranking"].append(number)
                cols["item"].append(item)
                cols["annotator"].append(annotator)
                cols["response"].append(response)
                cols["group"].append(place)
    return {k: np.array(v) for k, v in cols.items()}


def groups_from_ranks(ranks):
    """Ranks (1 best, equal = tied) of responses 0..n-1 -> groups best first."""
    return [list(np.flatnonzero(ranks == value)) for value in np.unique(ranks)]


def simulate_rankings(seed, n_items=40, n_annotators=5, n_responses=4, noise=1.0, tie_rate=0.0):
    """Every annotator ranks each item's responses by a noisy reading of their quality;
    with tie_rate, neighbours whose readings are close are tied."""
    rng = np.random.default_rng(seed)
    rankings = []
    for item in range(n_items):
        quality = rng.normal(0, 1, n_responses)
        for annotator in range(n_annotators):
            reading = quality + rng.normal(0, noise, n_responses)
            if tie_rate:
                reading = np.round(reading / tie_rate) * tie_rate
            ranks = scipy_stats.rankdata(-reading, method="dense")
            rankings.append((item, annotator, groups_from_ranks(ranks)))
    return rankings


def test_mid_ranks_share_the_places_of_a_tie():
    assert mid_ranks([0, 0, 0, 0, 1, 1], [0, 1, 1, 2, 0, 0]).tolist() == [1, 2.5, 2.5, 4, 1.5, 1.5]


@pytest.mark.parametrize("tie_rate", [0.0, 0.5])
def test_kendall_w_per_item_matches_friedman_chi_square_with_tie_correction(tie_rate):
    rankings = simulate_rankings(3, n_items=1, n_annotators=6, n_responses=5, tie_rate=tie_rate)
    cols = long_rows(rankings)
    table = np.zeros((6, 5))
    table[cols["annotator"], cols["response"]] = mid_ranks(cols["ranking"], cols["group"])
    if tie_rate:
        assert any(len(g) > 1 for _, _, groups in rankings for g in groups)
    chi2 = scipy_stats.friedmanchisquare(*table.T).statistic  # tie-corrected in scipy
    expected = chi2 / (6 * (5 - 1))
    got = kendall_w(cols["ranking"], cols["item"], cols["response"], cols["group"])
    assert got == pytest.approx(expected, rel=1e-12)


def test_kendall_w_is_one_for_identical_rankings_and_averages_over_items():
    same = [(0, a, [[2], [0], [1]]) for a in range(3)]
    # Item 1: two annotators in opposite orders: W = 0.
    opposite = [(1, 0, [[0], [1], [2]]), (1, 1, [[2], [1], [0]])]
    cols = long_rows(same + opposite)
    assert kendall_w(cols["ranking"], cols["item"], cols["response"], cols["group"]) == 0.5


def test_kendall_w_leaves_out_items_ranked_once():
    cols = long_rows([(0, 0, [[0], [1]]), (0, 1, [[0], [1]]), (1, 0, [[1], [0]])])
    assert kendall_w(cols["ranking"], cols["item"], cols["response"], cols["group"]) == 1.0


@pytest.mark.parametrize("tie_rate", [0.0, 0.5])
def test_rank_alpha_matches_krippendorff_package_on_ranks(tie_rate):
    rankings = simulate_rankings(5, n_items=12, n_annotators=4, tie_rate=tie_rate)
    # Some annotators skip some items: alpha allows missing values.
    rankings = [r for n, r in enumerate(rankings) if n % 7 != 3]
    cols = long_rows(rankings)
    ranks = mid_ranks(cols["ranking"], cols["group"])
    table = np.full((4, 12 * 4), np.nan)
    table[cols["annotator"], cols["item"] * 4 + cols["response"]] = ranks
    expected = krippendorff.alpha(table, level_of_measurement="ordinal")
    got = rank_alpha(
        cols["ranking"], cols["item"], cols["annotator"], cols["response"], cols["group"]
    )
    assert got == pytest.approx(expected, rel=1e-10)


def test_ranking_agreement_intervals_cover_the_point_and_narrow_with_more_items():
    def report(n_items):
        cols = long_rows(simulate_rankings(11, n_items=n_items, noise=0.7))
        return ranking_agreement(
            cols["ranking"],
            cols["item"],
            cols["annotator"],
            cols["response"],
            cols["group"],
            n_boot=300,
        )

    small, large = report(15), report(240)
    for name in ("kendall_w", "krippendorff_alpha"):
        lo, hi = large[name]["ci"]
        assert lo < large[name]["value"] < hi
        assert hi - lo < small[name]["ci"][1] - small[name]["ci"][0]
    assert large["krippendorff_alpha"]["level"] == "ordinal"
    assert large["n_items"] == 240 and large["n_annotators"] == 5 and large["n_judgments"] == 1200
    assert large["kendall_w"]["n_items"] == 240


def test_ranking_agreement_without_pairable_items_is_undefined():
    cols = long_rows([(0, 0, [[0], [1]])])
    report = ranking_agreement(
        cols["ranking"], cols["item"], cols["annotator"], cols["response"], cols["group"], n_boot=50
    )
    assert report["kendall_w"] == {"value": None, "ci": [None, None], "n_items": 0}
    assert report["krippendorff_alpha"]["value"] is None


def pl_sample(rng, strengths, models):
    """One Plackett-Luce draw: the order in which `models` are picked."""
    left, order = list(models), []
    while left:
        w = np.exp(strengths[left])
        pick = rng.choice(len(left), p=w / w.sum())
        order.append(left.pop(pick))
    return order


def model_rows(orders):
    ranking, model, group = [], [], []
    for number, order in enumerate(orders):
        for place, m in enumerate(order):
            ranking.append(number)
            model.append(m)
            group.append(place)
    return np.array(ranking), np.array(model), np.array(group)


@pytest.mark.parametrize("seed", range(3))
def test_plackett_luce_matches_choix_mm_rankings(seed):
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0, 1, 6)
    orders = [
        pl_sample(rng, strengths, rng.choice(6, size=rng.integers(2, 6), replace=False))
        for _ in range(300)
    ]
    expected = choix.mm_rankings(6, [list(o) for o in orders], alpha=0.01, tol=1e-10)
    got = plackett_luce(*model_rows(orders), 6, alpha=0.01, tol=1e-10)
    assert got == pytest.approx(expected, abs=1e-6)


def test_plackett_luce_without_prior_matches_choix_ilsr_maximum_likelihood():
    rng = np.random.default_rng(9)
    strengths = np.array([1.0, 0.5, 0.0, -0.5, -1.0])
    orders = [pl_sample(rng, strengths, range(5)) for _ in range(500)]
    expected = choix.ilsr_rankings(5, [list(o) for o in orders], tol=1e-12)
    got = plackett_luce(*model_rows(orders), 5, alpha=0.0, tol=1e-12, max_iter=100_000)
    assert got - got.mean() == pytest.approx(expected - expected.mean(), abs=1e-5)


def test_plackett_luce_ties_choose_each_member_from_the_same_set():
    # [[0, 1], [2]]: 0 and 1 each chosen from {0, 1, 2} (Breslow), as two rankings
    # [0, 2] ... would not; the tie must leave 0 and 1 equal and above 2.
    ranking = np.array([0, 0, 0, 1, 1, 1])
    model = np.array([0, 1, 2, 0, 1, 2])
    group = np.array([0, 0, 1, 0, 1, 2])
    theta = plackett_luce(ranking, model, group, 3)
    assert theta[0] > theta[1] > theta[2]
    tied = plackett_luce(ranking[:3], model[:3], group[:3], 3)
    assert tied[0] == pytest.approx(tied[1]) and tied[1] > tied[2]


def test_implied_pairs_of_a_ranking_with_a_tie():
    ranking = np.array([0, 0, 0, 0])
    model = np.array([3, 1, 2, 0])
    group = np.array([0, 1, 1, 2])
    _, a, b, outcome = implied_pairs(ranking, model, group)
    votes = sorted(zip(a.tolist(), b.tolist(), outcome.tolist(), strict=True))
    assert votes == sorted(
        [(3, 1, 1.0), (3, 2, 1.0), (3, 0, 1.0), (1, 2, 0.5), (1, 0, 1.0), (2, 0, 1.0)]
    )


def simulated_study(seed, n_items=150, n_annotators=4, n_models=6, per_item=4):
    """Items each showing `per_item` of the models' responses, ranked by several annotators
    who read Plackett-Luce with known strengths."""
    rng = np.random.default_rng(seed)
    truth = np.linspace(1.5, -1.5, n_models)
    ranking, item, model, group = [], [], [], []
    number = 0
    for it in range(n_items):
        shown = rng.choice(n_models, size=per_item, replace=False)
        for _ in range(n_annotators):
            for place, m in enumerate(pl_sample(rng, truth, shown)):
                ranking.append(number)
                item.append(it)
                model.append(m)
                group.append(place)
            number += 1
    return truth, *(np.array(x) for x in (ranking, item, model, group))


def test_simulated_ranking_study_leaderboards_recover_the_true_order():
    truth, ranking, item, model, group = simulated_study(1)
    boards = ranking_leaderboards(ranking, item, model, group, 6, n_boot=200)
    pl, bt = boards["plackett_luce"], boards["bradley_terry"]
    for board in (pl, bt):
        assert [row["model_index"] for row in board["leaderboard"]] == list(range(6))
        for row in board["leaderboard"]:
            assert row["ci"][0] < row["rating"] < row["ci"][1]
    # Plackett-Luce's log-strengths are the truth's, up to noise (400/ln 10 points each).
    ratings = np.array([row["rating"] for row in pl["leaderboard"]])
    scale = 400 / np.log(10)
    assert (ratings - ratings.mean()) / scale == pytest.approx(truth - truth.mean(), abs=0.35)
    assert pl["n_votes"] == 600 and bt["n_votes"] == 600 * 6
    assert pl["leaderboard"][0]["rankings"] == np.count_nonzero(model == 0)


def test_item_bootstrap_is_wider_than_pretending_implied_pairs_are_independent():
    from annotation.stats.ranking import leaderboard

    _, ranking, item, model, group = simulated_study(2, n_items=100, n_annotators=6)
    clustered = ranking_leaderboards(ranking, item, model, group, 6, n_boot=300)["bradley_terry"]
    _, a, b, outcome = implied_pairs(ranking, model, group)
    naive = leaderboard(a, b, outcome, 6, n_boot=300)

    def width(board):
        return np.mean([r["ci"][1] - r["ci"][0] for r in board["leaderboard"]])

    assert width(clustered) > 1.1 * width(naive)  # 1.17 to 1.27 over seeds 2-4
    assert [r["rating"] for r in clustered["leaderboard"]] == pytest.approx(
        [r["rating"] for r in naive["leaderboard"]]
    )


def test_plackett_luce_bootstrap_is_reproducible_and_seeded():
    _, ranking, item, model, group = simulated_study(3, n_items=40)
    one = ranking_leaderboards(ranking, item, model, group, 6, n_boot=100, seed=4)
    two = ranking_leaderboards(ranking, item, model, group, 6, n_boot=100, seed=4)
    other = ranking_leaderboards(ranking, item, model, group, 6, n_boot=100, seed=5)
    for method in ("plackett_luce", "bradley_terry"):
        assert one[method]["leaderboard"] == two[method]["leaderboard"]
        assert one[method]["leaderboard"] != other[method]["leaderboard"]


def test_a_model_never_ranked_above_another_stays_finite_and_last():
    orders = [[0, 1, 2]] * 5 + [[1, 0, 2]] * 5
    ranking, model, group = model_rows(orders)
    board = ranking_leaderboards(ranking, ranking, model, group, 3, n_boot=50)["plackett_luce"]
    last = board["leaderboard"][-1]
    assert last["model_index"] == 2 and np.isfinite(last["rating"]) and last["wins"] == 0
    assert all(np.isfinite(r["ci"]).all() for r in board["leaderboard"])


def test_all_permutations_rank_everyone_equal():
    orders = [list(p) for p in itertools.permutations(range(4))]
    theta = plackett_luce(*model_rows(orders), 4)
    assert theta == pytest.approx(np.zeros(4), abs=1e-7)


def test_first_shown_first_counts_rankings_whose_label_a_is_on_top():
    # Ranking 0: A (response 5) ranked first; ranking 1: A tied first with another of 3;
    # ranking 2: A last; ranking 3: no shown order (imported): left out.
    ranking = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3])
    group = np.array([0, 1, 0, 0, 1, 0, 1, 0, 1])
    shown = np.array([0, 1, 1, 0, 2, 1, 0, -1, -1])
    rankings, first, chance = first_shown_first(ranking, group, shown)
    assert rankings.tolist() == [0, 1, 2]
    assert first.tolist() == [True, True, False]
    assert chance.tolist() == pytest.approx([1 / 2, 2 / 3, 1 / 2])
