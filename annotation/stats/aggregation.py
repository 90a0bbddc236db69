"""Turning several judgments per task into one label: majority vote and Dawid-Skene.

Inputs are parallel 1-D arrays, one entry per judgment: ``task_index`` in 0..n_tasks-1,
``annotator_index`` in 0..n_annotators-1 and ``label`` in 0..n_labels-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import sparse

from annotation.stats.resampling import identical_rows

__all__ = ["DawidSkeneResult", "TaskLabels", "dawid_skene", "majority_vote", "task_labels"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Dawid-Skene runs EM over distinct tasks (tasks judged alike) when they are at most this share
# of all tasks; with more, finding them costs more than the smaller EM saves.
COLLAPSE_MAX_SHARE = 0.7
# Duplicates are first counted in a random sample of this share of the tasks (at least
# _MIN_SAMPLE of them), so a crowd with no two tasks judged alike does not pay for grouping all.
_SAMPLE_SHARE = 1 / 16
_MIN_SAMPLE = 10_000


def _validate(
    task_index: npt.ArrayLike,
    annotator_index: npt.ArrayLike,
    label: npt.ArrayLike,
    n_labels: int,
    n_tasks: int | None,
    n_annotators: int | None = None,
) -> tuple[IntArray, IntArray, IntArray, int, int]:
    task = np.asarray(task_index, dtype=np.int64).reshape(-1)
    annotator = np.asarray(annotator_index, dtype=np.int64).reshape(-1)
    lab = np.asarray(label, dtype=np.int64).reshape(-1)
    if not (len(task) == len(annotator) == len(lab)):
        raise ValueError("task_index, annotator_index and label must have the same length")
    if n_labels < 1:
        raise ValueError("n_labels must be positive")
    if len(lab) and (lab.min() < 0 or lab.max() >= n_labels):
        raise ValueError("labels must be in 0..n_labels-1")
    if len(task) and (task.min() < 0 or annotator.min() < 0):
        raise ValueError("indices must be non-negative")
    t = int(n_tasks) if n_tasks is not None else int(task.max()) + 1 if len(task) else 0
    a = (
        int(n_annotators)
        if n_annotators is not None
        else (int(annotator.max()) + 1 if len(annotator) else 0)
    )
    if len(task) and (task.max() >= t or annotator.max() >= a):
        raise ValueError("an index is >= n_tasks or n_annotators")
    return task, annotator, lab, t, a


def _label_counts(task: IntArray, label: IntArray, n_tasks: int, n_labels: int) -> IntArray:
    flat = np.bincount(task * n_labels + label, minlength=n_tasks * n_labels)
    return flat.reshape(n_tasks, n_labels)


def _column_sums(x: FloatArray) -> FloatArray:
    """Sums of the columns of a tall, narrow matrix (numpy's axis-0 reduction of an (n, 4)
    array is ten times slower than four strided sums)."""
    return np.array([x[:, column].sum() for column in range(x.shape[1])])


def _row_reduce(ufunc: np.ufunc, x: FloatArray) -> FloatArray:
    """Row maxima or sums of a tall, narrow matrix, one column at a time (see
    ``_column_sums``; a BLAS product with a ones vector would wake idle BLAS threads)."""
    out = x[:, 0].copy()
    for column in range(1, x.shape[1]):
        ufunc(out, x[:, column], out=out)
    return out


def majority_vote(
    task_index: npt.ArrayLike,
    annotator_index: npt.ArrayLike,
    label: npt.ArrayLike,
    n_labels: int,
    *,
    n_tasks: int | None = None,
) -> tuple[IntArray, FloatArray]:
    """Plurality label per task and the share of the task's judgments behind it.

    Returns ``(labels, share)``, both (n_tasks,).  ``labels`` is -1 when the top count is
    tied (no arbitrary tie-break: the task simply has no majority) or the task has no
    judgment; ``share`` is the top count over the task's judgments (so 0.5 for a 2-2 tie)
    and ``nan`` without judgments.  ``annotator_index`` is accepted for symmetry with
    :func:`dawid_skene` and validation; each judgment is one vote.
    """
    task, _, lab, t, _ = _validate(task_index, annotator_index, label, n_labels, n_tasks)
    counts = _label_counts(task, lab, t, n_labels)
    total = counts.sum(axis=1)
    top = counts.max(axis=1) if t else np.zeros(0, np.int64)
    unique = ((counts == top[:, None]).sum(axis=1) == 1) & (total > 0)
    labels = np.where(unique, counts.argmax(axis=1), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, top / total, np.nan)
    return labels, share


@dataclass(frozen=True)
class DawidSkeneResult:
    """Fitted Dawid-Skene model.

    posterior: (n_tasks, n_labels) P(true label | judgments); the class prior for tasks
        without judgments.
    labels: (n_tasks,) most probable label, -1 for tasks without judgments.
    confusion: (n_annotators, n_labels, n_labels); ``confusion[a, k, l]`` = P(a answers l |
        truth k), rows sum to 1.
    accuracy: (n_annotators,) expected share of the annotator's judgments that are correct
        under the posterior; ``nan`` for annotators without judgments.
    prior: (n_labels,) class prior.
    """

    posterior: FloatArray
    labels: IntArray
    confusion: FloatArray
    accuracy: FloatArray
    prior: FloatArray
    log_likelihood: float
    n_iter: int
    converged: bool


def dawid_skene(
    task_index: npt.ArrayLike,
    annotator_index: npt.ArrayLike,
    label: npt.ArrayLike,
    n_labels: int,
    max_iter: int = 100,
    tol: float = 1e-6,
    *,
    n_tasks: int | None = None,
    n_annotators: int | None = None,
    smoothing: float = 1.0,
) -> DawidSkeneResult:
    """Dawid & Skene (1979) EM: each annotator has a confusion matrix, tasks a latent label.

    Initialised from the (soft) majority vote, so EM starts from the answer the majority
    would give and moves away only where the data say some annotators are better.
    ``smoothing`` is a Dirichlet pseudo-count added to every confusion cell and to the class
    prior (MAP-EM): no log(0) for sparse annotators, and an annotator with few judgments is
    shrunk towards "uninformative" instead of being trusted as perfect.  Stops when the
    log-likelihood changes by less than ``tol`` (relative) or after ``max_iter`` rounds.
    """
    task, annotator, lab, t, a = _validate(
        task_index, annotator_index, label, n_labels, n_tasks, n_annotators
    )
    k = n_labels
    # Tasks x answers (annotator, given label) counts: the E-step sums log-confusion rows per
    # task and the M-step sums posteriors per answer, each one sparse product with a small
    # dense matrix (no per-judgment array inside the loop). The M-step goes through the
    # transpose as it is (column-major): it reads the posterior in order and adds into the
    # small answers x truth table, twice as fast as gathering posterior rows per answer.
    answer = annotator * k + lab
    by_task = sparse.csr_matrix(
        (np.ones(len(task)), (task, answer)), shape=(t, a * k), dtype=np.float64
    )
    counts = _label_counts(task, lab, t, k).astype(np.float64)
    groups = distinct_tasks(by_task)
    if groups is None:
        weight = None
        by_answer = by_task.T
    else:
        # Tasks judged alike have the same posterior at every iteration: EM runs on the first
        # of each group, which stands for the whole group in the M-step and log-likelihood.
        first, group = groups
        by_task = by_task[first]
        counts = counts[first]
        weight = np.bincount(group, minlength=len(first)).astype(np.float64)
        weighted = sparse.csr_matrix(
            (
                by_task.data * np.repeat(weight, np.diff(by_task.indptr)),
                by_task.indices,
                by_task.indptr,
            ),
            shape=by_task.shape,
        )
        by_answer = weighted.T
    fit = _em(by_task, by_answer, counts, weight, a, k, max_iter, tol, smoothing)
    posterior, has = fit.posterior, fit.has
    if groups is not None:
        posterior, has = posterior[group], has[group]
    confusion, prior = fit.confusion, fit.prior

    labels = np.where(has, posterior.argmax(axis=1), -1)
    correct = np.bincount(annotator, weights=posterior[task, lab], minlength=a)
    n_by_annotator = np.bincount(annotator, minlength=a)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(n_by_annotator > 0, correct / n_by_annotator, np.nan)
    return DawidSkeneResult(
        posterior=posterior,
        labels=labels,
        confusion=confusion,
        accuracy=accuracy,
        prior=prior,
        log_likelihood=fit.log_likelihood,
        n_iter=fit.n_iter,
        converged=fit.converged,
    )


@dataclass(frozen=True)
class _EMFit:
    """Where the EM rounds stopped, one posterior row per row of tasks they ran on."""

    posterior: FloatArray
    has: npt.NDArray[np.bool_]
    confusion: FloatArray
    prior: FloatArray
    log_likelihood: float
    n_iter: int
    converged: bool


def _em(
    by_task: sparse.csr_matrix,
    by_answer: sparse.csc_matrix,
    counts: FloatArray,
    weight: FloatArray | None,
    a: int,
    k: int,
    max_iter: int,
    tol: float,
    smoothing: float,
) -> _EMFit:
    """The EM rounds of :func:`dawid_skene` on rows of tasks, each standing for ``weight``
    tasks (one if None); ``by_answer`` is the transpose of ``by_task`` with rows scaled by it.
    """
    t = by_task.shape[0]
    has = counts.sum(axis=1) > 0
    every_task_judged = bool(has.all())
    judged_weight = None if weight is None else weight if every_task_judged else weight[has]
    posterior = np.full((t, k), 1.0 / k)
    posterior[has] = counts[has] / counts[has].sum(axis=1, keepdims=True)

    log_likelihood = -np.inf
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        # M-step: class prior and confusion matrices from the current posterior.
        judged = posterior if every_task_judged else posterior[has]
        if judged_weight is not None:
            judged = judged * judged_weight[:, None]
        prior = _column_sums(judged) + smoothing
        prior /= prior.sum()
        answered = (by_answer @ posterior).reshape(a, k, k)  # [annotator, given, truth]
        confusion = answered.transpose(0, 2, 1) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E-step: log P(truth k | judgments) up to a constant per task.
        log_answer = np.log(confusion).transpose(0, 2, 1).reshape(a * k, k)  # [answer, truth]
        log_joint = by_task @ log_answer
        log_joint += np.log(prior)
        top = _row_reduce(np.maximum, log_joint)
        log_joint -= top[:, None]
        posterior = np.exp(log_joint, out=log_joint)
        total = _row_reduce(np.add, posterior)
        posterior /= total[:, None]
        norm = top + np.log(total)
        if not every_task_judged:
            posterior[~has] = prior
            norm = norm[has]
        # A product, not a dot product with the weights: BLAS would wake its idle threads.
        new_ll = float((norm if judged_weight is None else norm * judged_weight).sum())
        if abs(new_ll - log_likelihood) <= tol * max(1.0, abs(new_ll)):
            log_likelihood = new_ll
            converged = True
            break
        log_likelihood = new_ll
    return _EMFit(posterior, has, confusion, prior, log_likelihood, n_iter, converged)


def distinct_tasks(by_task: sparse.csr_matrix) -> tuple[IntArray, IntArray] | None:
    """First task of each group of identically judged tasks and the group of every task, or
    None when there are too few duplicates for collapsing to pay (see COLLAPSE_MAX_SHARE).

    Every task beyond the first of its group pairs with it, and a random sample holds each
    pair with probability m(m-1)/(n(n-1)): a sample with too few pairs rules collapsing out
    at a fraction of the cost of grouping all tasks.
    """
    n = by_task.shape[0]
    if n == 0:
        return None
    needed = (1.0 - COLLAPSE_MAX_SHARE) * n  # tasks that must be somebody's duplicate
    m = max(int(n * _SAMPLE_SHARE), _MIN_SAMPLE)
    if 2 * m <= n:
        sample = np.sort(np.random.default_rng(0).choice(n, m, replace=False, shuffle=False))
        sample_groups = identical_rows(by_task[sample])
        if sample_groups is None:
            return None
        sizes = np.bincount(sample_groups[1]).astype(np.float64)  # summed, not dotted (BLAS)
        pairs = float((sizes * (sizes - 1)).sum()) / 2 * (n * (n - 1)) / (m * (m - 1))
        if pairs < needed:
            return None
    groups = identical_rows(by_task)
    if groups is None or len(groups[0]) > COLLAPSE_MAX_SHARE * n:
        return None
    return groups


class TaskLabels(NamedTuple):
    """The labels of the judged tasks, one entry per task id (ascending); labels are codes
    into the label set, -1 for none (a tied majority)."""

    task: IntArray
    n_judgments: IntArray
    majority: IntArray
    majority_share: FloatArray
    weighted: IntArray
    weighted_confidence: FloatArray


def task_labels(
    task_id: npt.ArrayLike, annotator_id: npt.ArrayLike, label: npt.ArrayLike, n_labels: int
) -> TaskLabels | None:
    """Majority and Dawid-Skene label of every task with a judgment, from one entry per
    judgment (ids, not indices); None without judgments. The report and the exports label
    tasks with this one function, so both give the same labels for the same judgments."""
    task_id = np.asarray(task_id, dtype=np.int64).reshape(-1)
    if len(task_id) == 0:
        return None
    task_ids, task_index = np.unique(task_id, return_inverse=True)
    annotator_ids, annotator_index = np.unique(
        np.asarray(annotator_id, dtype=np.int64).reshape(-1), return_inverse=True
    )
    majority, share = majority_vote(
        task_index, annotator_index, label, n_labels, n_tasks=len(task_ids)
    )
    # Labels settle long before the log-likelihood stops moving at the sixth digit.
    model = dawid_skene(
        task_index,
        annotator_index,
        label,
        n_labels,
        n_tasks=len(task_ids),
        n_annotators=len(annotator_ids),
        max_iter=30,
        tol=1e-5,
    )
    return TaskLabels(
        task=task_ids,
        n_judgments=np.bincount(task_index, minlength=len(task_ids)),
        majority=majority,
        majority_share=np.nan_to_num(share, nan=0.0),
        weighted=model.labels,
        weighted_confidence=model.posterior[np.arange(len(task_ids)), model.labels],
    )
