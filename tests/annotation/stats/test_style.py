"""Style control: features as Arena counts them, the fit against statsmodels' GLM, the fast
bootstrap against full refits, and a model that wins by length alone."""

import numpy as np
import pytest
import statsmodels.api as sm

from annotation.stats import style as st
from annotation.stats.ranking import leaderboard
from annotation.stats.style import (
    fit_style_bradley_terry,
    style_cells,
    style_covariates,
    style_features,
    style_leaderboard,
)

MARKDOWN = """# Title
Some **bold** and __also bold__ text, 2 * 3 * 4.

## Steps
1. first
2. second
- dash
  * nested star

```bash
# not a header
- not a list item
**not bold**
```
#not a header either
"""


def test_style_features_count_markdown_outside_code_blocks():
    features = style_features(MARKDOWN)
    assert features == {
        "chars": len(MARKDOWN),
        "tokens": len(MARKDOWN.split()),
        "headers": 2,
        "list_items": 4,
        "bold": 2,
        "code_blocks": 1,
    }


def test_plain_text_has_no_markdown():
    assert style_features("Just words here.") == {
        "chars": 16,
        "tokens": 3,
        "headers": 0,
        "list_items": 0,
        "bold": 0,
        "code_blocks": 0,
    }


def simulate(seed, n_votes=4000, n_models=5, beta=(0.6, -0.3), tie_rate=0.1):
    """Votes whose outcome depends on the models and on two style features."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.5, n_models)
    a = rng.integers(0, n_models, n_votes)
    b = (a + rng.integers(1, n_models, n_votes)) % n_models
    fa = rng.poisson([200, 2], (n_votes, 2))
    fb = rng.poisson([200, 2], (n_votes, 2))
    x, scale = style_covariates(fa, fb)
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + x @ np.array(beta))))
    u = rng.random(n_votes)
    y = np.where(u < tie_rate, 0.5, np.where(u < tie_rate + (1 - tie_rate) * p, 1.0, 0.0))
    return a, b, y, x, scale, theta


def test_covariates_are_ratios_scaled_to_unit_deviation_not_centred():
    x, scale = style_covariates([[30, 0], [10, 0]], [[10, 0], [10, 0]])
    ratio = np.array([20 / 41, 0.0])
    assert scale[0] == pytest.approx(ratio.std())
    assert x[:, 0] == pytest.approx(ratio / ratio.std())
    assert x[:, 1].tolist() == [0.0, 0.0] and scale[1] == 1.0  # never differs: left at 0


@pytest.mark.parametrize("seed", range(3))
def test_fit_matches_statsmodels_glm_on_the_same_cells(seed):
    a, b, y, x, _, _ = simulate(seed)
    cells = style_cells(a, b, y, x, bins=None)
    theta, beta = fit_style_bradley_terry(cells, 5, reg=0.0, tol=1e-12)
    # Reference: a binomial GLM over the cells with the model indicators (model 0 dropped as
    # the reference) and the covariates, ties as outcome 0.5, cell counts as weights.
    m = 5
    indicators = np.zeros((len(cells["a"]), m))
    indicators[np.arange(len(cells["a"])), cells["a"]] += 1
    indicators[np.arange(len(cells["a"])), cells["b"]] -= 1
    design = np.column_stack([indicators[:, 1:], cells["x"]])
    glm = sm.GLM(cells["y"], design, family=sm.families.Binomial(), freq_weights=cells["count"])
    reference = glm.fit(tol=1e-12).params
    assert theta[1:] - theta[0] == pytest.approx(reference[: m - 1], abs=1e-6)
    assert beta == pytest.approx(reference[m - 1 :], abs=1e-6)


def test_cells_collapse_identical_votes_whichever_side_they_were_shown():
    x = np.array([[0.5], [-0.5], [0.5]])
    cells = style_cells([0, 1, 0], [1, 0, 1], [1.0, 0.0, 1.0], x, bins=None)
    assert cells["count"].tolist() == [3]
    assert cells["a"].tolist() == [0] and cells["y"].tolist() == [1.0]
    assert cells["x"].tolist() == [[0.5]]


def test_binned_fit_is_close_to_the_exact_one():
    a, b, y, x, scale, _ = simulate(4, n_votes=20000)
    exact_theta, exact_beta = fit_style_bradley_terry(style_cells(a, b, y, x, bins=None), 5)
    binned = style_cells(a, b, y, x, scale=scale)
    theta, beta = fit_style_bradley_terry(binned, 5)
    assert len(binned["count"]) < 20000
    assert theta == pytest.approx(exact_theta, abs=2e-3)
    assert beta == pytest.approx(exact_beta, abs=2e-3)


def test_fast_bootstrap_rounds_equal_full_refits_of_the_same_resamples():
    a, b, y, x, _, _ = simulate(5, n_votes=3000)
    cells = style_cells(a, b, y, x, bins=None)
    count = cells["count"].astype(float)
    params, hess = st._newton(cells, count, np.zeros(7), 1e-4, 1e-12)
    fast = st._bootstrap(cells, params, hess, 12, 3, 1e-4, 1e-9)
    # The same draws, each fitted by Newton from zero.
    rng = np.random.default_rng(3)
    cell_of_vote = np.repeat(np.arange(len(count)), cells["count"])
    n_votes = len(cell_of_vote)
    for row in fast:
        drawn = np.bincount(cell_of_vote[rng.integers(0, n_votes, n_votes)], minlength=len(count))
        full, _ = st._newton(cells, drawn.astype(float), np.zeros(7), 1e-4, 1e-12)
        assert row == pytest.approx(full, abs=1e-7)


def test_intervals_cover_the_true_coefficients():
    # No ties: a tie at random, half a win each way, pulls every coefficient towards 0.
    a, b, y, x, scale, _ = simulate(6, n_votes=6000, beta=(0.5, -0.2), tie_rate=0.0)
    board = style_leaderboard(
        style_cells(a, b, y, x, scale=scale), 5, names=("tokens", "bold"), n_boot=200
    )
    tokens, bold = board["style_coefficients"]["tokens"], board["style_coefficients"]["bold"]
    assert tokens["ci"][0] < 0.5 < tokens["ci"][1]
    assert bold["ci"][0] < -0.2 < bold["ci"][1]
    assert board["n_votes"] == 6000 and board["n_boot"] == 200
    assert [r["rating"] for r in board["leaderboard"]] == sorted(
        (r["rating"] for r in board["leaderboard"]), reverse=True
    )


def length_twins(seed=0, n_votes=6000):
    """Four models; model 1 is model 0 with every answer three times as long, and voters
    prefer longer answers: model 1 wins by length alone."""
    rng = np.random.default_rng(seed)
    theta = np.array([0.0, 0.0, 0.3, -0.3])
    length = np.array([100, 300, 120, 140])
    a = rng.integers(0, 4, n_votes)
    b = (a + rng.integers(1, 4, n_votes)) % 4
    # Each answer's length varies with its prompt around its model's usual length.
    features_a = np.column_stack([length[a] * rng.lognormal(0, 0.6, n_votes), np.zeros(n_votes)])
    features_b = np.column_stack([length[b] * rng.lognormal(0, 0.6, n_votes), np.zeros(n_votes)])
    ratio = (features_a[:, 0] - features_b[:, 0]) / (features_a[:, 0] + features_b[:, 0] + 1)
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + 2.0 * ratio)))
    y = (rng.random(n_votes) < p).astype(float)
    return a, b, y, features_a, features_b


def test_a_model_that_wins_by_length_alone_rates_as_its_terse_twin_under_style_control():
    a, b, y, features_a, features_b = length_twins()
    plain = {r["model_index"]: r for r in leaderboard(a, b, y, 4, n_boot=300)["leaderboard"]}
    x, scale = style_covariates(features_a, features_b)
    board = style_leaderboard(
        style_cells(a, b, y, x, scale=scale), 4, names=("tokens", "bold"), n_boot=300
    )
    styled = {r["model_index"]: r for r in board["leaderboard"]}
    # Plainly, the verbose twin is far above its terse twin's interval...
    assert plain[1]["rating"] > plain[0]["ci"][1] + 20
    # ...with style controlled it lies within it, and length carries the difference.
    assert styled[0]["ci"][0] <= styled[1]["rating"] <= styled[0]["ci"][1]
    assert board["style_coefficients"]["tokens"]["ci"][0] > 0
