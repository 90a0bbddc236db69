"""Factories for the domain. Items go through the import service, as in the product."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from annotation.models import Annotator, Criterion, Judgment, Project, Response
from annotation.services.annotators import annotator_for_user
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from annotation.services.surveys import survey_answers_record


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class AnnotatorUserFactory(UserFactory):
    username = factory.Sequence(lambda n: f"annotator{n}")


class ResearcherFactory(UserFactory):
    username = factory.Sequence(lambda n: f"researcher{n}")
    is_staff = True


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.Sequence(lambda n: f"Project {n}")
    kind = Project.Kind.PAIRWISE
    gold_rate = 0.0
    owner = factory.SubFactory(ResearcherFactory)


class CriterionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Criterion

    project = factory.SubFactory(ProjectFactory, kind=Project.Kind.RUBRIC)
    key = factory.Sequence(lambda n: f"criterion{n}")
    label = factory.LazyAttribute(lambda c: c.key.capitalize())
    min = 0
    max = 4


def rubric_project(**kwargs: Any) -> Project:
    project = ProjectFactory(kind=Project.Kind.RUBRIC, **kwargs)
    CriterionFactory(project=project, key="helpfulness", level_labels={"0": "bad", "4": "great"})
    CriterionFactory(project=project, key="correctness")
    return project


def item_rows(count: int, *, responses: int = 2, prefix: str = "q") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": f"r{j + 1}", "model": f"model-{j}", "text": f"Answer {j} to {i}."}
                for j in range(responses)
            ],
        }
        for i in range(count)
    ]


def import_items(project: Project, count: int, **kwargs: Any) -> None:
    rows = item_rows(count, **kwargs)
    items_import(project=project, rows=list(enumerate(rows, start=1)))


def voted_project() -> Project:
    """A pairwise project of two items whose first has three imported votes: a, a, b."""
    project = ProjectFactory()
    import_items(project, 2)
    rows = [
        {"annotator": f"h{n}", "item": "q0", "a": "r1", "b": "r2", "choice": choice}
        for n, choice in enumerate("aab")
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def make_annotator(**kwargs: Any) -> Annotator:
    return annotator_for_user(user=AnnotatorUserFactory(**kwargs))


def picked_judgments(project: Project, picks: dict[str, str]) -> None:
    """Pairwise judgments through the judgment import, one letter per annotator and item
    (`a`, `b` or `t` for a tie): `{"q0": "abt"}` gives annotators h0, h1, h2 on item q0
    choosing r1, r2 and a tie, each with a rationale and a time."""
    choices = {"a": "a", "b": "b", "t": "tie"}
    rows = [
        {
            "annotator": f"h{k}",
            "item": item,
            "a": "r1",
            "b": "r2",
            "choice": choices[letter],
            "rationale": f"Reason {k} on {item}.",
            "seconds": 10.0 + k,
        }
        for item, letters in picks.items()
        for k, letter in enumerate(letters)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))


def ranking_project(**kwargs: Any) -> Project:
    return ProjectFactory(kind=Project.Kind.RANKING, **kwargs)


def ranked_judgments(project: Project, rows: list[dict[str, Any]]) -> None:
    """Ranking judgments through the judgment import: rows `{"annotator", "item", "ranking":
    [["r2"], ["r1", "r3"]]}` by response ids, optionally `"shown": ["r3", "r1", "r2"]`, the
    order the annotator saw them in (an import has none; the vote path stores it)."""
    imported = [{key: value for key, value in row.items() if key != "shown"} for row in rows]
    judgments_import(project=project, rows=list(enumerate(imported, start=1)))
    responses = Response.objects.filter(item__project=project)
    pk = {(r.item.external_id, r.external_id): r.pk for r in responses.select_related("item")}
    for row in rows:
        if "shown" in row:
            Judgment.objects.filter(
                project=project,
                annotator__external_id=row["annotator"],
                task__item__external_id=row["item"],
            ).update(shown_order=[pk[(row["item"], name)] for name in row["shown"]])


def profiled_annotators(project: Project, people: dict[str, dict[str, Any]]) -> list[Annotator]:
    """Annotators as the judgment import makes them (`external_id` the name), each with their
    survey answers, given before any vote (pre-survey answers are fixed after the first)."""
    annotators = []
    for name, answers in people.items():
        annotator, _ = Annotator.objects.get_or_create(
            source=Annotator.Source.IMPORT, external_id=name
        )
        survey_answers_record(project=project, annotator=annotator, answers=answers)
        annotators.append(annotator)
    return annotators
