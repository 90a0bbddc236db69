"""Measures of each model judge against the people (README, LLM judges; CONTRACT 17), as
the agreement report's `model_judges`: agreement with the human majority (percent and
Cohen's kappa), per criterion, position bias and swap consistency before calibration
(judges run here, from their verdicts), Kendall's tau between the judge's leaderboard and
the humans', and how the judge's tasks were routed and spot-checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import JSONField
from django.db.models.expressions import RawSQL

from annotation import pg
from annotation.models import Annotator, Criterion, Judge, JudgeVerdict, Project, Task
from annotation.rankings import mean_places, screen_labels
from annotation.selectors.judgment_table import MISSING_SCORE, JudgmentTable
from annotation.selectors.ranking_table import RankingTable
from annotation.services.routing import verdict_route
from annotation.stats import Ratings, majority_agreement
from annotation.stats.judges import (
    item_kendall_tau,
    leaderboard_kendall_tau,
    position_bias,
    ranking_leaderboard_kendall_tau,
    ranking_position_bias,
    score_agreement,
    score_leaderboard_kendall_tau,
    swap_consistency,
)
from annotation.stats.listwise import mid_ranks

IntArray = npt.NDArray[np.int64]


def _empty_ratings() -> Ratings:
    return Ratings(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))


def _votes(rows: JudgmentTable) -> tuple[IntArray, IntArray, IntArray, npt.NDArray]:
    """(item, model a, model b, outcome) of the rows that are votes between two models; a tie
    or both bad is half a win each, as on the leaderboard."""
    usable = (rows.choice >= 0) & (rows.model_a >= 0) & (rows.model_b >= 0)
    usable &= rows.model_a != rows.model_b
    outcome = np.select([rows.choice == 0, rows.choice == 1], [1.0, 0.0], default=0.5)
    return rows.item[usable], rows.model_a[usable], rows.model_b[usable], outcome[usable]


def _latest_verdicts(
    project: Project, *, rankings: bool = False
) -> dict[int, dict[str, npt.NDArray]]:
    """Per judge's annotator id, the columns of its newest finished verdict on each regular
    task (one query), with the route that verdict gives the task; with `rankings`, what its
    outputs say of the position shown first and of the two orders' top response."""
    verdicts = JudgeVerdict.objects.filter(judge__project=project, task__is_gold=False)
    if rankings:
        verdicts = verdicts.annotate(answers=_answers_of_outputs())
    rows = (
        verdicts.exclude(status=JudgeVerdict.Status.CLAIMED)
        .order_by("id")
        .values_list(
            "judge__annotator_id",
            "task_id",
            "status",
            "consistent",
            "first_position_wins",
            "decisive_outputs",
            "confidence",
            "agreement",
            *(["answers"] if rankings else []),
        )
    )
    latest: dict[tuple[int, int], tuple] = {}
    for row in rows:
        latest[(row[0], row[1])] = row
    by_judge: dict[int, list[tuple]] = {}
    for row in latest.values():
        by_judge.setdefault(row[0], []).append(row)
    columns: dict[int, dict[str, npt.NDArray]] = {}
    for annotator_id, verdicts in by_judge.items():
        done = [v for v in verdicts if v[2] == JudgeVerdict.Status.DONE]
        swapped = [v for v in done if v[3] is not None]
        columns[annotator_id] = {
            "task": np.array([v[1] for v in verdicts], dtype=np.int64),
            "route": np.array(
                [
                    verdict_route(status=v[2], consistent=v[3], confidence=v[6], agreement=v[7])
                    for v in verdicts
                ],
                dtype=np.int64,
            ),
            "consistent": np.array([bool(v[3]) for v in swapped], dtype=bool),
            "first_wins": np.array([v[4] for v in swapped], dtype=np.int64),
            "decisive": np.array([v[5] for v in swapped], dtype=np.int64),
        }
        if rankings:
            columns[annotator_id].update(_ranking_output_columns([v[8] for v in done]))
    return columns


def _answers_of_outputs() -> RawSQL:
    """A verdict's outputs without their raw text and error, computed in the database: the
    measures read only the order, what was shown and the parsed answer of each."""
    column = f"{pg.text(pg.table(JudgeVerdict))}.outputs"
    if connection.vendor == "postgresql":
        sql = (
            f"(SELECT COALESCE(jsonb_agg(o - 'raw' - 'error'), '[]'::jsonb)"
            f" FROM jsonb_array_elements({column}) o)"
        )
    else:
        sql = (
            "(SELECT json_group_array(json(json_remove(value, '$.raw', '$.error')))"
            f" FROM json_each({column}))"
        )
    return RawSQL(sql, [], output_field=JSONField())


def _screen_ranking(answer: Any, count: int) -> list[list[str]] | None:
    """A stored answer's ranking in screen labels, or None when it is not a ranking of
    (some of) the `count` labels shown, each once."""
    ranking = answer.get("ranking") if isinstance(answer, dict) else None
    labels = set(screen_labels(count))
    if not isinstance(ranking, list) or not ranking:
        return None
    if not all(isinstance(group, list) and group for group in ranking):
        return None
    flat = [label for group in ranking for label in group]
    if not all(isinstance(label, str) and label in labels for label in flat):
        return None
    return ranking if len(flat) == len(set(flat)) else None


def _ranking_output_columns(verdicts_outputs: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Per verdict: answers that put the response shown first on top (a top of k shared
    counts 1/k), readable answers, the sum of 1/n over them (n responses shown), and, when
    both orders gave a readable answer, whether the orders agree on the top response."""
    first_on_top, answers, expected, consistent = [], [], [], []
    for outputs in verdicts_outputs:
        hits = read = chance = 0.0
        tops: dict[str, list[list[list[int]]]] = {}
        for output in outputs or []:
            shown = output.get("shown") or []
            ranking = (
                None if output.get("failed") else _screen_ranking(output.get("parsed"), len(shown))
            )
            if ranking is None:
                continue
            read += 1
            chance += 1 / len(shown)
            hits += ("A" in ranking[0]) / len(ranking[0])
            ids = dict(zip(screen_labels(len(shown)), shown, strict=True))
            tops.setdefault(output.get("order"), []).append(
                [[ids[label] for label in group] for group in ranking]
            )
        first_on_top.append(hits)
        answers.append(read)
        expected.append(chance)
        if len(tops) == 2:
            consistent.append(len({frozenset(_top(rankings)) for rankings in tops.values()}) == 1)
    return {
        "first_on_top": np.array(first_on_top, dtype=np.float64),
        "answers": np.array(answers, dtype=np.float64),
        "expected": np.array(expected, dtype=np.float64),
        "top_consistent": np.array(consistent, dtype=bool),
    }


def _top(rankings: list[list[list[int]]]) -> list[int]:
    """The responses with the best mean place over rankings of one order."""
    places = mean_places(rankings)
    best = places[0][1]
    return [response for response, place in places if abs(place - best) < 1e-9]


def _human_majority(humans: Ratings, tasks: IntArray, judge: Ratings, n_boot: int) -> Any:
    """Percent agreement of the judge with the human majority on `tasks` only."""
    keep = np.isin(judge.item, tasks)
    sub = Ratings(judge.item[keep], judge.annotator[keep], judge.value[keep])
    result = majority_agreement(humans, sub, min_reference_ratings=1, n_boot=0)
    return {"value": result["agreement"], "n": result["n"]}


def judge_measures(
    *,
    project: Project,
    humans: Ratings | None,
    human_rows: JudgmentTable,
    model_rows: JudgmentTable,
    n_boot: int,
) -> list[dict[str, Any]]:
    """Each model judge (imported or run here) against the people: `humans` are the human
    ratings agreement is read on, `human_rows` and `model_rows` the regular (not gold)
    judgments of each kind; the leaderboards leave out votes on answers that named their
    model, as the leaderboard does."""
    platform_judges = {j.annotator_id: j.name for j in Judge.objects.filter(project=project)}
    keep = model_rows.choice >= 0
    annotator_ids = sorted(set(model_rows.annotator[keep].tolist()) | set(platform_judges))
    if not annotator_ids:
        return []
    humans = humans if humans is not None else _empty_ratings()
    judge_ratings = Ratings(
        model_rows.task[keep], model_rows.annotator[keep], model_rows.choice[keep]
    )
    overall = {
        r["annotator"]: r
        for r in majority_agreement(humans, judge_ratings, n_boot=n_boot)["by_judge"]
    }
    by_criterion = _criteria_agreement(human_rows, model_rows, n_boot)
    names = _judge_names(annotator_ids, platform_judges)
    verdicts = _latest_verdicts(project) if platform_judges else {}
    human_votes = _votes(human_rows.subset(~human_rows.identity_leak))
    unleaked = model_rows.subset(~model_rows.identity_leak)
    measures = []
    for annotator_id in annotator_ids:
        row = overall.get(annotator_id, {})
        mine = unleaked.subset(unleaked.annotator == annotator_id)
        tau = leaderboard_kendall_tau(
            human_votes, _votes(mine), len(model_rows.models), n_boot=n_boot, seed=annotator_id
        )
        entry: dict[str, Any] = {
            "judge": names[annotator_id],
            "annotator": names[annotator_id],
            "agreement_with_human_majority": row.get("agreement"),
            "percent_agreement": row.get("agreement"),
            "cohen_kappa": row.get("cohen_kappa", {"value": None, "ci": [None, None]}),
            "n": row.get("n", 0),
            "criteria": {
                key: figures[annotator_id]
                for key, figures in by_criterion.items()
                if annotator_id in figures
            },
            "kendall_tau": tau,
            "position_bias": None,
            "swap_consistency": None,
            "swap_consistency_ci": [None, None],
            "n_swapped": 0,
            "routing": None,
        }
        if annotator_id in verdicts:
            entry.update(
                _verdict_measures(
                    verdicts[annotator_id], humans, judge_ratings, annotator_id, n_boot
                )
            )
        measures.append(entry)
    return measures


def _verdict_measures(
    columns: dict[str, npt.NDArray],
    humans: Ratings,
    judge_ratings: Ratings,
    annotator_id: int,
    n_boot: int,
) -> dict[str, Any]:
    bias = position_bias(
        columns["first_wins"], columns["decisive"], n_boot=n_boot, seed=annotator_id
    )
    consistency = swap_consistency(columns["consistent"], n_boot=n_boot, seed=annotator_id)
    mine = judge_ratings.annotator == annotator_id
    own = Ratings(
        judge_ratings.item[mine], judge_ratings.annotator[mine], judge_ratings.value[mine]
    )
    spot = columns["task"][columns["route"] == Task.Route.SPOT_CHECK]
    return {
        "position_bias": {"value": bias["value"], "ci": bias["ci"], "n": bias["n"]},
        "swap_consistency": consistency["value"],
        "swap_consistency_ci": consistency["ci"],
        "n_swapped": consistency["n"],
        "routing": {
            "judged": len(columns["task"]),
            "routed": int((columns["route"] == Task.Route.TO_PEOPLE).sum()),
            "spot_checked": len(spot),
            "spot_check_agreement": _human_majority(humans, spot, own, n_boot),
        },
    }


def _criteria_agreement(
    human_rows: JudgmentTable, model_rows: JudgmentTable, n_boot: int
) -> dict[str, dict[int, dict[str, Any]]]:
    """Per criterion of a pairwise project (which response is better on it), each judge's
    percent agreement and Cohen's kappa with the human majority."""
    result: dict[str, dict[int, dict[str, Any]]] = {}
    for key, model_codes in model_rows.criteria.items():
        human_codes = human_rows.criteria.get(key)
        judged = model_codes >= 0
        if human_codes is None or not judged.any():
            continue
        rated = human_codes >= 0
        people = Ratings(human_rows.task[rated], human_rows.annotator[rated], human_codes[rated])
        judges = Ratings(model_rows.task[judged], model_rows.annotator[judged], model_codes[judged])
        figures = majority_agreement(people, judges, n_boot=n_boot)["by_judge"]
        result[key] = {
            r["annotator"]: {
                "percent_agreement": r["agreement"],
                "cohen_kappa": r["cohen_kappa"],
                "n": r["n"],
            }
            for r in figures
        }
    return result


def _per_task_mean_median(
    task: IntArray, value: npt.NDArray
) -> tuple[IntArray, npt.NDArray, npt.NDArray]:
    """The tasks, and the mean and median of the values given on each."""
    order = np.lexsort((value, task))
    task, value = task[order], value[order].astype(np.float64)
    tasks, start, count = np.unique(task, return_index=True, return_counts=True)
    mean = np.add.reduceat(value, start) / count if len(tasks) else np.empty(0)
    median = (value[start + (count - 1) // 2] + value[start + count // 2]) / 2
    return tasks, mean, median


def _judge_names(annotator_ids: list[int], platform_judges: dict[int, str]) -> dict[int, str]:
    names = dict(platform_judges)
    missing = [a for a in annotator_ids if a not in names]
    return names | {a.pk: a.public_id for a in Annotator.objects.filter(pk__in=missing)}


def rubric_judge_measures(
    *,
    project: Project,
    criteria: list[Criterion],
    human_rows: JudgmentTable,
    model_rows: JudgmentTable,
    n_boot: int,
) -> list[dict[str, Any]]:
    """Each model judge of a rubric project against the people, per criterion: a scored
    criterion compares the judge's score of each response with people's (quadratic-weighted
    kappa against their rounded median, Spearman and Pearson against their mean), a verdict
    criterion its good/bad with people's majority (percent agreement, Cohen's kappa); each
    with Kendall's tau between the leaderboards by mean score per model."""
    platform_judges = {j.annotator_id: j.name for j in Judge.objects.filter(project=project)}
    scored = {key: values != MISSING_SCORE for key, values in model_rows.criteria.items()}
    answered = np.zeros(len(model_rows), dtype=bool)
    for mask in scored.values():
        answered |= mask
    annotator_ids = sorted(set(model_rows.annotator[answered].tolist()) | set(platform_judges))
    if not annotator_ids:
        return []
    names = _judge_names(annotator_ids, platform_judges)
    by_criterion: dict[str, dict[int, dict[str, Any]]] = {}
    for criterion in criteria:
        if criterion.key not in human_rows.criteria:
            continue
        measure = _verdict_criterion if criterion.is_verdict else _scored_criterion
        by_criterion[criterion.key] = measure(criterion, human_rows, model_rows, n_boot)
    verdicts = _latest_verdicts(project) if platform_judges else {}
    measures = []
    for annotator_id in annotator_ids:
        figures = {
            key: judges[annotator_id]
            for key, judges in by_criterion.items()
            if annotator_id in judges
        }
        measures.append(
            {
                "judge": names[annotator_id],
                "annotator": names[annotator_id],
                "agreement_with_human_majority": None,
                "percent_agreement": None,
                "cohen_kappa": {"value": None, "ci": [None, None]},
                "n": max((f["n"] for f in figures.values()), default=0),
                "criteria": figures,
                "kendall_tau": {"value": None, "ci": [None, None], "n_models": 0},
                "position_bias": None,
                "swap_consistency": None,
                "swap_consistency_ci": [None, None],
                "n_swapped": 0,
                "routing": _routing(verdicts[annotator_id]) if annotator_id in verdicts else None,
            }
        )
    return measures


@dataclass
class _PeopleScores:
    """People's mean and median score of each response (task) they scored on a criterion,
    with the response's item and model, aligned with `tasks` (sorted)."""

    tasks: IntArray
    mean: npt.NDArray
    median: npt.NDArray
    item: IntArray
    model: IntArray

    @classmethod
    def of(cls, key: str, human_rows: JudgmentTable) -> _PeopleScores:
        values = human_rows.criteria[key]
        given = values != MISSING_SCORE
        tasks, mean, median = _per_task_mean_median(human_rows.task[given], values[given])
        first = np.flatnonzero(given)[np.unique(human_rows.task[given], return_index=True)[1]]
        return cls(tasks, mean, median, human_rows.item[first], human_rows.model_a[first])

    def judged_by(
        self, annotator_id: int, model_rows: JudgmentTable, values: npt.NDArray
    ) -> tuple[npt.NDArray, IntArray]:
        """The judge's (mean) score of each response people scored, and those responses'
        positions in `tasks`."""
        mine = (model_rows.annotator == annotator_id) & (values != MISSING_SCORE)
        mine &= np.isin(model_rows.task, self.tasks)
        judged, score, _ = _per_task_mean_median(model_rows.task[mine], values[mine])
        return score, np.searchsorted(self.tasks, judged)


def _scored_criterion(
    criterion: Criterion, human_rows: JudgmentTable, model_rows: JudgmentTable, n_boot: int
) -> dict[int, dict[str, Any]]:
    people = _PeopleScores.of(criterion.key, human_rows)
    values = model_rows.criteria[criterion.key]
    given = (values != MISSING_SCORE) & np.isin(model_rows.task, people.tasks)
    result: dict[int, dict[str, Any]] = {}
    for annotator_id in np.unique(model_rows.annotator[given]).tolist():
        score, at = people.judged_by(annotator_id, model_rows, values)
        figures = score_agreement(
            people.item[at],
            score,
            people.mean[at],
            people.median[at],
            low=criterion.min,
            high=criterion.max,
            n_boot=n_boot,
            seed=annotator_id,
        )
        figures["kendall_tau"] = score_leaderboard_kendall_tau(
            people.model[at],
            score,
            people.mean[at],
            people.item[at],
            n_boot=n_boot,
            seed=annotator_id,
        )
        result[annotator_id] = figures
    return result


def _verdict_criterion(
    criterion: Criterion, human_rows: JudgmentTable, model_rows: JudgmentTable, n_boot: int
) -> dict[int, dict[str, Any]]:
    scores = _PeopleScores.of(criterion.key, human_rows)
    people_values, values = human_rows.criteria[criterion.key], model_rows.criteria[criterion.key]
    rated, judged = people_values != MISSING_SCORE, values != MISSING_SCORE
    people = Ratings(human_rows.task[rated], human_rows.annotator[rated], people_values[rated])
    judges = Ratings(model_rows.task[judged], model_rows.annotator[judged], values[judged])
    result: dict[int, dict[str, Any]] = {}
    for row in majority_agreement(people, judges, n_boot=n_boot)["by_judge"]:
        annotator_id = row["annotator"]
        share_good, at = scores.judged_by(annotator_id, model_rows, values)
        result[annotator_id] = {
            "percent_agreement": row["agreement"],
            "cohen_kappa": row["cohen_kappa"],
            "n": row["n"],
            "kendall_tau": score_leaderboard_kendall_tau(
                scores.model[at],
                share_good,
                scores.mean[at],
                scores.item[at],
                n_boot=n_boot,
                seed=annotator_id,
            ),
        }
    return result


def _places(rows: RankingTable) -> tuple[IntArray, IntArray, npt.NDArray]:
    """(response, its item, its mean place over the rankings in rows), one entry per response
    (tied responses share the middle of their places)."""
    place = mid_ranks(rows.judgment, rows.group)
    responses, first, index = np.unique(rows.response, return_index=True, return_inverse=True)
    index = index.reshape(-1)
    total = np.bincount(index, weights=place, minlength=len(responses)).astype(np.float64)
    mean = total / np.maximum(np.bincount(index, minlength=len(responses)), 1)
    return responses, rows.item[first], mean


def _rankings(rows: RankingTable) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    usable = rows.model >= 0
    return rows.judgment[usable], rows.item[usable], rows.model[usable], rows.group[usable]


def ranking_judge_measures(
    *, project: Project, ranks: RankingTable, n_boot: int
) -> list[dict[str, Any]]:
    """Each model judge of a ranking project against the people: Kendall's tau between its
    ranking of each item and people's mean places (mean over items), between its
    Plackett-Luce leaderboard and people's, and for judges run here the share of answers
    that put the response shown first on top and how often the two orders agree on the top
    response."""
    platform_judges = {j.annotator_id: j.name for j in Judge.objects.filter(project=project)}
    regular = ranks.subset(~ranks.is_gold)
    models = regular.subset(regular.is_model)
    annotator_ids = sorted(set(models.annotator.tolist()) | set(platform_judges))
    if not annotator_ids:
        return []
    names = _judge_names(annotator_ids, platform_judges)
    people = regular.subset(~regular.is_model)
    people_responses, _, people_places = _places(people)
    people_rankings = _rankings(people)
    verdicts = _latest_verdicts(project, rankings=True) if platform_judges else {}
    measures = []
    for annotator_id in annotator_ids:
        mine = models.subset(models.annotator == annotator_id)
        responses, items, places = _places(mine)
        both = np.isin(responses, people_responses)
        at = np.searchsorted(people_responses, responses[both])
        entry: dict[str, Any] = {
            "judge": names[annotator_id],
            "annotator": names[annotator_id],
            "agreement_with_human_majority": None,
            "percent_agreement": None,
            "cohen_kappa": {"value": None, "ci": [None, None]},
            "n": len(np.unique(mine.judgment)),
            "criteria": {},
            "item_kendall_tau": item_kendall_tau(
                items[both], places[both], people_places[at], n_boot=n_boot, seed=annotator_id
            ),
            "kendall_tau": ranking_leaderboard_kendall_tau(
                people_rankings,
                _rankings(mine),
                len(ranks.models),
                n_boot=n_boot,
                seed=annotator_id,
            ),
            "position_bias": None,
            "swap_consistency": None,
            "swap_consistency_ci": [None, None],
            "n_swapped": 0,
            "routing": None,
        }
        if annotator_id in verdicts:
            entry.update(_ranking_verdict_measures(verdicts[annotator_id], annotator_id, n_boot))
        measures.append(entry)
    return measures


def _ranking_verdict_measures(
    columns: dict[str, npt.NDArray], annotator_id: int, n_boot: int
) -> dict[str, Any]:
    answers = columns["answers"]
    expected = columns["expected"].sum() / answers.sum() if answers.sum() else float("nan")
    bias = ranking_position_bias(
        columns["first_on_top"], answers, expected, n_boot=n_boot, seed=annotator_id
    )
    consistency = swap_consistency(columns["top_consistent"], n_boot=n_boot, seed=annotator_id)
    return {
        "position_bias": bias,
        "swap_consistency": consistency["value"],
        "swap_consistency_ci": consistency["ci"],
        "n_swapped": consistency["n"],
        "routing": _routing(columns),
    }


def _routing(columns: dict[str, npt.NDArray]) -> dict[str, Any]:
    """How a rubric or ranking judge's verdicts routed its tasks; its agreement with the
    people who spot-checked them is read in its per-criterion (rubric) or per-item (ranking)
    figures, so `spot_check_agreement` is null."""
    return {
        "judged": len(columns["task"]),
        "routed": int((columns["route"] == Task.Route.TO_PEOPLE).sum()),
        "spot_checked": int((columns["route"] == Task.Route.SPOT_CHECK).sum()),
        "spot_check_agreement": None,
    }
