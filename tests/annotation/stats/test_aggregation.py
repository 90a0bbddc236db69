"""Label aggregation: majority vote and Dawid-Skene on simulated annotators."""

import numpy as np
import pytest
from scipy import sparse

from annotation.stats import aggregation
from annotation.stats.aggregation import dawid_skene, majority_vote

N_LABELS = 3
SPAMMER = "spammer"  # answers uniformly at random
CLICKER = "clicker"  # always answers label 0


def simulate(accuracies, n_tasks=300, per_task=5, seed=0):
    """Each task gets `per_task` distinct random annotators; wrong answers are uniform."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_LABELS, n_tasks)
    task, annotator, label = [], [], []
    for t in range(n_tasks):
        for a in rng.choice(len(accuracies), per_task, replace=False):
            kind = accuracies[a]
            if kind == SPAMMER:
                y = rng.integers(0, N_LABELS)
            elif kind == CLICKER:
                y = 0
            elif rng.random() < kind:
                y = truth[t]
            else:
                y = (truth[t] + rng.integers(1, N_LABELS)) % N_LABELS
            task.append(t)
            annotator.append(a)
            label.append(y)
    return truth, np.array(task), np.array(annotator), np.array(label)


# 15 annotators of known accuracy, 3 spammers and an always-"0" clicker.
PANEL = [0.9, 0.85, 0.8, 0.8, 0.75, 0.75, 0.7, 0.7, 0.65, 0.65, 0.6, SPAMMER, SPAMMER, SPAMMER]
PANEL = [*PANEL, CLICKER]
# Mostly spammers: 4 decent annotators among 15.
SPAMMY = [0.8, 0.75, 0.7, 0.7] + [SPAMMER] * 10 + [CLICKER]


def test_majority_vote_gives_label_and_share():
    labels, share = majority_vote([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [2, 2, 1, 0, 0], 3)
    assert labels.tolist() == [2, 0]
    assert share == pytest.approx([2 / 3, 1.0])


def test_majority_vote_tie_and_empty_task_have_no_label():
    labels, share = majority_vote([0, 0], [0, 1], [0, 1], 2, n_tasks=2)
    assert labels.tolist() == [-1, -1]
    assert share[0] == 0.5
    assert np.isnan(share[1])


def test_dawid_skene_recovers_truth_at_least_as_well_as_majority():
    truth, task, annotator, label = simulate(PANEL)
    majority, _ = majority_vote(task, annotator, label, N_LABELS)
    result = dawid_skene(task, annotator, label, N_LABELS)
    assert result.converged
    assert (result.labels == truth).mean() >= (majority == truth).mean()


def test_dawid_skene_clearly_beats_majority_when_spammers_are_many():
    truth, task, annotator, label = simulate(SPAMMY, per_task=7, seed=1)
    majority, _ = majority_vote(task, annotator, label, N_LABELS)
    result = dawid_skene(task, annotator, label, N_LABELS, max_iter=300)
    assert (result.labels == truth).mean() >= (majority == truth).mean() + 0.1


def test_dawid_skene_gives_spammers_and_clicker_the_lowest_accuracy():
    _, task, annotator, label = simulate(PANEL)
    result = dawid_skene(task, annotator, label, N_LABELS)
    bad = {a for a, kind in enumerate(PANEL) if kind in (SPAMMER, CLICKER)}
    assert set(np.argsort(result.accuracy)[: len(bad)].tolist()) == bad


def test_dawid_skene_accuracy_estimates_track_true_accuracy():
    _, task, annotator, label = simulate(PANEL, n_tasks=600)
    result = dawid_skene(task, annotator, label, N_LABELS)
    good = [a for a, kind in enumerate(PANEL) if isinstance(kind, float)]
    true_accuracy = np.array([PANEL[a] for a in good])
    assert np.abs(result.accuracy[good] - true_accuracy).max() < 0.1


def test_dawid_skene_clicker_confusion_puts_all_mass_on_label_zero():
    _, task, annotator, label = simulate(PANEL)
    result = dawid_skene(task, annotator, label, N_LABELS)
    clicker = PANEL.index(CLICKER)
    # ~33 judgments per true label, plus 1 smoothing pseudo-count per cell: about 34/36.
    assert (result.confusion[clicker][:, 0] > 0.9).all()


def test_dawid_skene_outputs_are_probability_distributions():
    _, task, annotator, label = simulate(PANEL, n_tasks=100)
    result = dawid_skene(task, annotator, label, N_LABELS)
    assert result.posterior.shape == (100, N_LABELS)
    assert result.confusion.shape == (len(PANEL), N_LABELS, N_LABELS)
    assert result.posterior.sum(axis=1) == pytest.approx(np.ones(100))
    assert result.confusion.sum(axis=2) == pytest.approx(np.ones((len(PANEL), N_LABELS)))
    assert result.prior.sum() == pytest.approx(1.0)


def test_dawid_skene_handles_sparse_annotator_and_unlabelled_task():
    _, task, annotator, label = simulate(PANEL, n_tasks=100)
    task = np.append(task, 0)
    annotator = np.append(annotator, 15)  # a newcomer with a single judgment
    label = np.append(label, 2)
    result = dawid_skene(task, annotator, label, N_LABELS, n_tasks=101, n_annotators=17)
    assert np.isfinite(result.posterior).all()
    assert np.isfinite(result.confusion).all()
    assert 0 < result.accuracy[15] < 1
    assert np.isnan(result.accuracy[16])
    assert result.labels[100] == -1


def reference_dawid_skene(task, annotator, label, n_labels, n_tasks, n_annotators, n_iter):
    """Textbook EM, one judgment at a time (MAP with one pseudo-count), as a reference."""
    k = n_labels
    posterior = np.zeros((n_tasks, k))
    for t, y in zip(task, label, strict=True):
        posterior[t, y] += 1
    judged = posterior.sum(axis=1) > 0
    posterior[judged] /= posterior[judged].sum(axis=1, keepdims=True)
    posterior[~judged] = 1 / k
    for _ in range(n_iter):
        prior = posterior[judged].sum(axis=0) + 1
        prior /= prior.sum()
        confusion = np.ones((n_annotators, k, k))
        for t, a, y in zip(task, annotator, label, strict=True):
            confusion[a, :, y] += posterior[t]
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_joint = np.tile(np.log(prior), (n_tasks, 1))
        for t, a, y in zip(task, annotator, label, strict=True):
            log_joint[t] += np.log(confusion[a, :, y])
        joint = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
        posterior = joint / joint.sum(axis=1, keepdims=True)
        posterior[~judged] = prior
    return posterior, confusion, prior


def test_dawid_skene_equals_textbook_em_iteration_for_iteration():
    _, task, annotator, label = simulate(PANEL, n_tasks=120)
    task = np.append(task, 0)  # a task with six judgments, and one task without any
    annotator = np.append(annotator, 15)
    label = np.append(label, 1)
    for n_iter in (1, 7):
        result = dawid_skene(
            task, annotator, label, N_LABELS, max_iter=n_iter, tol=0, n_tasks=121, n_annotators=16
        )
        posterior, confusion, prior = reference_dawid_skene(
            task, annotator, label, N_LABELS, 121, 16, n_iter
        )
        assert result.n_iter == n_iter
        np.testing.assert_allclose(result.posterior, posterior, rtol=0, atol=1e-12)
        np.testing.assert_allclose(result.confusion, confusion, rtol=0, atol=1e-12)
        np.testing.assert_allclose(result.prior, prior, rtol=0, atol=1e-12)


def simulate_teams(n_tasks=3000, n_teams=10, team_size=5, n_labels=4, seed=2):
    """Annotators work in fixed teams, so many tasks get the same (annotator, label) pairs."""
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.55, 0.95, n_teams * team_size)
    truth = rng.integers(0, n_labels, n_tasks)
    team = rng.integers(0, n_teams, n_tasks)
    annotator = (team[:, None] * team_size + np.arange(team_size)).reshape(-1)
    task = np.repeat(np.arange(n_tasks), team_size)
    right = rng.random(len(task)) < accuracy[annotator]
    wrong = (truth[task] + rng.integers(1, n_labels, len(task))) % n_labels
    return task, annotator, np.where(right, truth[task], wrong)


def simulate_crowd(n_tasks, n_annotators=500, per_task=5, n_labels=4, seed=3):
    """Each task gets random annotators from a large crowd: hardly two tasks are judged alike."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_tasks)
    annotator = np.argsort(rng.random((n_tasks, n_annotators)), axis=1)[:, :per_task].reshape(-1)
    task = np.repeat(np.arange(n_tasks), per_task)
    wrong = (truth[task] + rng.integers(1, n_labels, len(task))) % n_labels
    return task, annotator, np.where(rng.random(len(task)) < 0.7, truth[task], wrong)


def fit_both_ways(monkeypatch, task, annotator, label, **kwargs):
    """Dawid-Skene once over distinct tasks and once over every task."""
    monkeypatch.setattr(aggregation, "COLLAPSE_MAX_SHARE", 1.0)
    collapsed = dawid_skene(task, annotator, label, **kwargs)
    monkeypatch.setattr(aggregation, "COLLAPSE_MAX_SHARE", 0.0)
    every_task = dawid_skene(task, annotator, label, **kwargs)
    return collapsed, every_task


def assert_same_fit(result, expected):
    assert result.n_iter == expected.n_iter
    assert result.converged == expected.converged
    np.testing.assert_array_equal(result.labels, expected.labels)
    for name in ("posterior", "confusion", "accuracy", "prior"):
        np.testing.assert_allclose(getattr(result, name), getattr(expected, name), rtol=1e-10)
    assert result.log_likelihood == pytest.approx(expected.log_likelihood, rel=1e-12)


def test_dawid_skene_over_distinct_tasks_equals_em_over_every_task(monkeypatch):
    task, annotator, label = simulate_teams()
    collapsed, every_task = fit_both_ways(
        monkeypatch, task, annotator, label, n_labels=4, max_iter=30, tol=1e-5
    )
    assert_same_fit(collapsed, every_task)


def test_dawid_skene_over_distinct_tasks_stops_at_the_same_iteration(monkeypatch):
    task, annotator, label = simulate_teams(seed=5)
    collapsed, every_task = fit_both_ways(
        monkeypatch, task, annotator, label, n_labels=4, max_iter=500, tol=1e-9
    )
    assert every_task.converged and every_task.n_iter > 5
    assert_same_fit(collapsed, every_task)


def test_dawid_skene_over_distinct_tasks_keeps_unjudged_tasks_and_repeated_judgments(monkeypatch):
    task, annotator, label = simulate_teams(n_tasks=500)
    task = np.append(task, [3, 3, 7])  # an annotator who judged task 3 twice, and task 7 thrice
    annotator = np.append(annotator, [annotator[15], annotator[15], annotator[35]])
    label = np.append(label, [label[15], 1 - label[15] % 2, 2])
    collapsed, every_task = fit_both_ways(
        monkeypatch, task, annotator, label, n_labels=4, n_tasks=520, n_annotators=52
    )
    assert_same_fit(collapsed, every_task)
    assert (collapsed.labels[500:] == -1).all()
    assert np.isnan(collapsed.accuracy[50:]).all()


def test_dawid_skene_over_distinct_tasks_equals_textbook_em(monkeypatch):
    task, annotator, label = simulate_teams(n_tasks=200, n_teams=3, n_labels=N_LABELS)
    monkeypatch.setattr(aggregation, "COLLAPSE_MAX_SHARE", 1.0)
    result = dawid_skene(task, annotator, label, N_LABELS, max_iter=7, tol=0, n_tasks=201)
    posterior, confusion, prior = reference_dawid_skene(
        task, annotator, label, N_LABELS, 201, 15, 7
    )
    np.testing.assert_allclose(result.posterior, posterior, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.confusion, confusion, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.prior, prior, rtol=0, atol=1e-12)


def test_dawid_skene_on_a_crowd_is_unchanged(monkeypatch):
    task, annotator, label = simulate_crowd(n_tasks=30_000)
    result = dawid_skene(task, annotator, label, 4, max_iter=30, tol=1e-5)
    collapsed, every_task = fit_both_ways(
        monkeypatch, task, annotator, label, n_labels=4, max_iter=30, tol=1e-5
    )
    for name in ("posterior", "labels", "confusion", "accuracy", "prior"):
        np.testing.assert_array_equal(getattr(result, name), getattr(every_task, name))
    assert (result.n_iter, result.log_likelihood) == (every_task.n_iter, every_task.log_likelihood)
    assert_same_fit(collapsed, every_task)


@pytest.mark.parametrize("n_tasks", [3000, 30_000])
def test_only_tasks_of_teams_are_collapsed(n_tasks):
    """Teams leave far fewer distinct tasks than tasks; in a crowd collapsing would not pay."""
    for (task, annotator, label), collapses in (
        (simulate_teams(n_tasks=n_tasks), True),
        (simulate_crowd(n_tasks=n_tasks), False),
    ):
        by_task = sparse.csr_matrix(
            (np.ones(len(task)), (task, annotator * 4 + label)), shape=(n_tasks, 4 * 500)
        )
        assert (aggregation.distinct_tasks(by_task) is not None) == collapses
