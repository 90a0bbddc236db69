"""The researcher console: project page with figures, upload, preview, quality, permissions."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import AnnotatorStats, Item
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.quality import annotator_block
from annotation.services.reports import report_compute
from annotation.services.researchers import researcher_create
from tests.annotation.test_admin_isolation import project_form
from tests.factories import (
    ProjectFactory,
    ResearcherFactory,
    import_items,
    item_rows,
    make_annotator,
)

pytestmark = pytest.mark.django_db


def _researcher(username: str | None = None):
    """A researcher as `create_researcher` makes one: staff in the researcher group."""
    return researcher_create(username=username or ResearcherFactory.build().username)


def _voted_project(owner):
    project = ProjectFactory(owner=owner, slug="voted")
    import_items(project, 6, responses=2)
    rows = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": "a" if (i + k) % 3 else "b",
        }
        for i in range(6)
        for k in range(3)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    report_compute(project=project, n_boot=20)
    return project


def test_project_page_shows_progress_agreement_and_leaderboard(client):
    researcher = _researcher()
    project = _voted_project(researcher)
    client.force_login(researcher)
    html = client.get(f"/admin/annotation/project/{project.pk}/change/").content.decode()
    assert "tasks total: <strong>6</strong>" in html
    statistics = f"/admin/annotation/project/{project.pk}/statistics/"
    assert f'hx-get="{statistics}" hx-trigger="load"' in html
    block = client.get(statistics, headers={"HX-Request": "true"}).content.decode()
    assert "krippendorff alpha" in block
    assert "<svg" in block and "model-0" in block


def test_researchers_see_only_their_own_projects(client):
    mine, theirs = _researcher(), _researcher()
    ProjectFactory(owner=mine, name="Mine")
    ProjectFactory(owner=theirs, name="Theirs")
    client.force_login(mine)
    html = client.get("/admin/annotation/project/").content.decode()
    assert "Mine" in html and "Theirs" not in html


def test_uploading_items_in_the_admin_imports_them(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    upload = SimpleUploadedFile(
        "items.jsonl", "\n".join(json.dumps(r) for r in item_rows(4)).encode()
    )
    response = client.post(f"/admin/annotation/project/{project.pk}/import/", {"file": upload})
    assert response.status_code == 302
    assert Item.objects.filter(project=project).count() == 4


def test_a_bad_upload_lists_its_lines_and_imports_nothing(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    upload = SimpleUploadedFile("items.jsonl", b'{"id": "x"}\n{oops\n')
    html = client.post(
        f"/admin/annotation/project/{project.pk}/import/", {"file": upload}
    ).content.decode()
    assert "<td>1</td>" in html and "<td>2</td>" in html
    assert not Item.objects.exists()


def test_preview_shows_the_task_with_model_names_to_researchers_only(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher, slug="previewed")
    import_items(project, 1)
    client.force_login(researcher)
    html = client.get("/annotate/previewed/preview/").content.decode()
    assert "Researcher preview" in html and "model-0" in html and "model-1" in html
    assert "disabled" in html


def test_annotators_cannot_preview(client, annotator_user):
    project = ProjectFactory(slug="previewed")
    import_items(project, 1)
    client.force_login(annotator_user)
    response = client.get("/annotate/previewed/preview/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_blocking_from_the_quality_list_keeps_judgments(client):
    researcher = _researcher()
    project = _voted_project(researcher)
    from annotation.models import Annotator

    stats = AnnotatorStats.objects.create(
        project=project, annotator=Annotator.objects.get(external_id="h0")
    )
    client.force_login(researcher)
    client.post(
        "/admin/annotation/annotatorstats/", {"action": "block", "_selected_action": [stats.pk]}
    )
    stats.refresh_from_db()
    assert stats.is_blocked and stats.blocked_by == researcher
    assert project.judgments.filter(annotator=stats.annotator).count() == 6


def test_the_quality_list_says_who_blocked(client):
    researcher = _researcher("rosalind")
    project = ProjectFactory(owner=researcher)
    annotator = make_annotator()
    annotator_block(project=project, annotator=annotator, by=researcher)
    client.force_login(researcher)
    html = client.get("/admin/annotation/annotatorstats/").content.decode()
    assert "rosalind" in html


def test_a_blocked_annotator_never_sees_who_blocked_them(client):
    researcher = _researcher("rosalind")
    project = ProjectFactory(owner=researcher, slug="blocking")
    import_items(project, 2)
    annotator = make_annotator()
    stats = AnnotatorStats.objects.create(project=project, annotator=annotator)
    client.force_login(researcher)
    client.post(
        "/admin/annotation/annotatorstats/", {"action": "block", "_selected_action": [stats.pk]}
    )
    client.force_login(annotator.user)
    html = client.get("/annotate/blocking/").content.decode()
    assert "can no longer work on this project" in html
    assert "rosalind" not in html


#: The project add form as the console posts it, every required field filled.
PROJECT_ADD_FORM = {
    "preset": "helpsteer2",
    "name": "Rated",
    "slug": "rated",
    "kind": "pairwise",
    "status": "active",
    "access": "open",
    "annotations_per_task": 3,
    "lease_seconds": 900,
    "strength_scale": 0,
    "rationale": "off",
    "gold_rate": 0.1,
    "min_seconds_per_task": 3,
    "flag_min_judgments": 10,
    "flag_fast_share": 0.5,
    "flag_side_rate": 0.9,
    "flag_min_gold_accuracy": 0.6,
    "qualification_tasks": 0,
    "qualification_min_accuracy": 0.8,
    "crowd_new_per_hour": 20,
    "media_hosts": "[]",
    "allow_tie": "on",
    "criteria-TOTAL_FORMS": 0,
    "criteria-INITIAL_FORMS": 0,
}


def test_creating_a_project_from_a_preset_fills_kind_protocol_and_criteria(client):
    from annotation.models import Project

    researcher = _researcher()
    client.force_login(researcher)
    form = PROJECT_ADD_FORM
    response = client.post("/admin/annotation/project/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    project = Project.objects.get(slug="rated")
    assert list(project.criteria.values_list("key", flat=True)) == [
        "helpfulness",
        "correctness",
        "coherence",
        "complexity",
        "verbosity",
    ]
    assert project.owner == researcher


@pytest.mark.parametrize(
    "chosen", [{"preset": "ranking-4"}, {"preset": "", "kind": "ranking", "allow_tie": ""}]
)
def test_a_ranking_project_is_made_from_its_preset_or_by_choosing_the_kind(client, chosen):
    from annotation.models import Project

    client.force_login(_researcher())
    form = {**PROJECT_ADD_FORM, "slug": "ranked", **chosen}

    response = client.post("/admin/annotation/project/add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    project = Project.objects.get(slug="ranked")
    assert project.kind == Project.Kind.RANKING
    assert project.allow_tie is (chosen["preset"] == "ranking-4")
    assert not project.criteria.exists()


def test_the_project_page_polls_its_progress_line(client):
    researcher = _researcher()
    project = _voted_project(researcher)
    client.force_login(researcher)
    html = client.get(f"/admin/annotation/project/{project.pk}/change/").content.decode()
    assert 'hx-trigger="every 10s"' in html and "vendor/htmx.min.js" in html
    partial = client.get(f"/annotate/{project.slug}/progress/").content.decode()
    assert "judgments last hour" in partial and "<html" not in partial


def _annotators_vote(project, n: int) -> None:
    """n signed-up annotators (named by their accounts), members of the project, one vote
    each."""
    for _ in range(n):
        annotator = make_annotator()
        project.members.add(annotator)
        assignment = assignment_lease(project=project, annotator=annotator)
        judgment_submit(assignment=assignment, annotator=annotator, choice="left")


def test_console_pages_cost_the_same_queries_for_many_annotators(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher, annotations_per_task=50)
    import_items(project, 2)
    client.force_login(researcher)
    pages = [
        f"/admin/annotation/project/{project.pk}/change/",
        "/admin/annotation/judgment/",
        "/admin/annotation/assignment/",
        "/admin/annotation/annotator/",
        "/admin/annotation/annotatorstats/",
        "/admin/annotation/crowdsession/",
    ]

    def queries() -> list[int]:
        counts = []
        for page in pages:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(page).status_code == 200, page
            counts.append(len(captured))
        return counts

    _annotators_vote(project, 2)
    few = queries()
    _annotators_vote(project, 12)
    assert queries() == few


def test_members_are_searched_for_not_listed(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    member, other = make_annotator(username="ada-member"), make_annotator(username="bob-other")
    project.members.add(member)
    html = client.get(f"/admin/annotation/project/{project.pk}/change/").content.decode()
    assert "ada-member" in html and "bob-other" not in html
    found = client.get(
        "/admin/autocomplete/",
        {
            "app_label": "annotation",
            "model_name": "project",
            "field_name": "members",
            "term": "bob",
        },
    ).json()
    assert [r["text"] for r in found["results"]] == [str(other)]


def test_the_project_page_sets_the_crowd_study(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    form = project_form(
        project,
        prolific_study_id="study-1",
        screenout_code="NOPE",
        completion_min_answers=5,
        media_hosts="",
    )
    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert (project.prolific_study_id, project.screenout_code) == ("study-1", "NOPE")
    assert project.completion_min_answers == 5 and project.media_hosts == []


def test_a_researcher_marks_a_task_gold_but_cannot_move_it(client):
    researcher = _researcher()
    project, other = ProjectFactory(owner=researcher), ProjectFactory(owner=researcher)
    import_items(project, 1)
    task = project.tasks.get()
    client.force_login(researcher)
    response = client.post(
        f"/admin/annotation/task/{task.pk}/change/",
        {"project": other.pk, "is_gold": "on", "gold_answer": '{"choice": "a"}'},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.is_gold and task.gold_answer == {"choice": "a"} and task.project == project


def test_the_project_page_turns_on_active_sampling(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    form = project_form(project, sampling="active", explore_share="0.3", media_hosts="")
    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert (project.sampling, project.explore_share) == ("active", 0.3)


def test_the_project_page_sets_the_arena_safety_settings(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    form = project_form(
        project, arena_prompts_per_hour="12", prompt_blocklist='["bomb", "credit card"]'
    )
    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.arena_prompts_per_hour == 12
    assert project.prompt_blocklist == ["bomb", "credit card"]


def test_the_project_page_refuses_a_blocklist_that_is_not_a_list_of_terms(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    form = project_form(project, prompt_blocklist='"bomb"')
    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 200
    assert "Enter a list of terms" in response.content.decode()
    project.refresh_from_db()
    assert project.prompt_blocklist == []


def test_an_emptied_arena_safety_box_keeps_the_default(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher, arena_prompts_per_hour=5)
    client.force_login(researcher)
    form = project_form(project, arena_prompts_per_hour="", prompt_blocklist="")
    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert (project.arena_prompts_per_hour, project.prompt_blocklist) == (60, [])


def test_the_project_page_sets_the_arena_seed_prompts_and_reveal(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher, kind="arena")
    client.force_login(researcher)
    form = project_form(
        project, seed_prompts='["Write a limerick.", "Plan a picnic."]', media_hosts=""
    )
    form.pop("reveal_after_vote", None)  # an unticked box
    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.seed_prompts == ["Write a limerick.", "Plan a picnic."]
    assert project.reveal_after_vote is False


def test_the_project_page_refuses_bad_seed_prompts(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher, kind="arena")
    client.force_login(researcher)
    form = project_form(project, seed_prompts='["fine", ""]', media_hosts="")
    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 200
    assert "non-empty" in response.content.decode()
    project.refresh_from_db()
    assert project.seed_prompts == []
