"""A ranking project's judgments as numpy columns, one row per ranked response: the input of
the listwise statistics (annotation.stats.listwise).

A stored ranking is a list of groups of response ids, best first; each response becomes a
row with the place of its group (0 = best) and the model that wrote it. The judgment's
shown order says which response the annotator saw first (label A), for position bias.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from annotation.models import Annotator, Judgment, Project, Response

#: What is read of each judgment.
_FIELDS = (
    "pk",
    "task__item_id",
    "annotator_id",
    "annotator__kind",
    "is_gold",
    "ranking",
    "shown_order",
)


@dataclass
class RankingTable:
    """Parallel arrays, one entry per ranked response of a ranking judgment."""

    judgment: npt.NDArray[np.int64]
    item: npt.NDArray[np.int64]
    annotator: npt.NDArray[np.int64]
    is_model: npt.NDArray[np.bool_]
    is_gold: npt.NDArray[np.bool_]
    response: npt.NDArray[np.int64]
    model: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    #: Where the response was shown (0 = label A), -1 when the judgment has no shown order.
    shown: npt.NDArray[np.int64]
    models: list[str]

    def __len__(self) -> int:
        return len(self.judgment)

    def subset(self, mask: npt.NDArray[np.bool_]) -> RankingTable:
        if mask.all():
            return self
        return RankingTable(
            **{f.name: getattr(self, f.name)[mask] for f in fields(self) if f.name != "models"},
            models=self.models,
        )


def ranking_table(*, project: Project, up_to_id: int | None = None) -> RankingTable:
    """Every ranking judgment of the project (up to a judgment id), one row per response."""
    judgments = Judgment.objects.filter(project=project, ranking__isnull=False)
    if up_to_id is not None:
        judgments = judgments.filter(pk__lte=up_to_id)
    model_of = dict(Response.objects.filter(item__project=project).values_list("pk", "model"))
    models = sorted(set(model_of.values()))
    code = {name: i for i, name in enumerate(models)}
    columns: dict[str, list[int]] = {f.name: [] for f in fields(RankingTable) if f.name != "models"}
    rows = judgments.order_by("pk").values_list(*_FIELDS)
    for pk, item, annotator, kind, is_gold, ranking, shown_order in rows.iterator(chunk_size=5000):
        place = {response: i for i, response in enumerate(shown_order or [])}
        for group, members in enumerate(ranking):
            for response in members:
                columns["judgment"].append(pk)
                columns["item"].append(item)
                columns["annotator"].append(annotator)
                columns["is_model"].append(kind == Annotator.Kind.MODEL)
                columns["is_gold"].append(is_gold)
                columns["response"].append(response)
                columns["model"].append(code.get(model_of.get(response), -1))
                columns["group"].append(group)
                columns["shown"].append(place.get(response, -1))
    arrays = {
        name: np.array(values, dtype=bool if name in ("is_model", "is_gold") else np.int64)
        for name, values in columns.items()
    }
    return RankingTable(**arrays, models=models)
