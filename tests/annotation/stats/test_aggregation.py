"""Label aggregation: majority vote and Dawid-Skene on simulated annotators."""

import numpy as np
import pytest

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
