"""The consistency details of a stored agreement report, with the items and annotators they
name read back for the console: one query each, however many are listed."""

from __future__ import annotations

from typing import Any

from annotation.models import AgreementReport, Annotator, Item, Project


def consistency_rows(*, project: Project, report: AgreementReport | None) -> dict[str, Any]:
    """The report's cyclic items (with the item) and inconsistent annotators (with the
    annotator), in the report's order, most cycles or inconsistencies first. A report from
    before the details were kept gives `known: False`."""
    details = (report.report or {}).get("consistency_details") if report else None
    if details is None:
        return {"known": False, "items": [], "annotators": []}
    listed_items = details.get("cyclic_items", [])
    listed_annotators = details.get("annotators", [])
    items = Item.objects.filter(
        project=project, pk__in=[row["item_id"] for row in listed_items]
    ).only("pk", "external_id")
    annotators = Annotator.objects.filter(
        pk__in=[row["annotator_id"] for row in listed_annotators]
    ).select_related("user")
    by_item = {item.pk: item for item in items}
    by_annotator = {annotator.pk: annotator for annotator in annotators}
    return {
        "known": True,
        "n_cyclic_items": details.get("n_cyclic_items", 0),
        "n_inconsistent_annotators": details.get("n_inconsistent_annotators", 0),
        "annotators_checked": details.get("annotators_checked", 0),
        "items": [
            {**row, "item": by_item[row["item_id"]]}
            for row in listed_items
            if row["item_id"] in by_item
        ],
        "annotators": [
            {**row, "annotator": by_annotator[row["annotator_id"]]}
            for row in listed_annotators
            if row["annotator_id"] in by_annotator
        ],
    }
