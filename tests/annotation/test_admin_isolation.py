"""Researchers in the console: each sees, picks and changes only what belongs to the projects
they own or share; a forged id writes nothing; superusers see everything."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from annotation.models import (
    Annotator,
    AnnotatorStats,
    Assignment,
    Criterion,
    CrowdSession,
    Item,
    Judgment,
    Project,
    Response,
    Task,
)
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from annotation.services.researchers import researcher_create
from tests.factories import (
    CriterionFactory,
    ProjectFactory,
    UserFactory,
    import_items,
    item_rows,
    make_annotator,
)

pytestmark = pytest.mark.django_db


@dataclass
class Lab:
    """One researcher's project with everything the console lists."""

    user: object
    project: Project
    criterion: Criterion
    item: Item
    response: Response
    task: Task
    assignment: Assignment
    judgment: Judgment
    annotator: Annotator
    stats: AnnotatorStats
    crowd_worker: Annotator
    session: CrowdSession

    def row(self, model_name: str):
        return {
            "project": self.project,
            "criterion": self.criterion,
            "item": self.item,
            "response": self.response,
            "task": self.task,
            "assignment": self.assignment,
            "judgment": self.judgment,
            "annotatorstats": self.stats,
            "annotator": self.crowd_worker,
            "crowdsession": self.session,
        }[model_name]


def _lab(name: str, hex_digit: str) -> Lab:
    user = researcher_create(username=name)
    project = ProjectFactory(owner=user, slug=f"{name}-study", name=f"{name.title()} study")
    import_items(project, 2, prefix=f"{name}-q")
    annotator = make_annotator(username=f"{name}-annotator")
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment = judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    crowd_worker = Annotator.objects.create(
        source=Annotator.Source.PROLIFIC, external_id=hex_digit * 24
    )
    session = CrowdSession.objects.create(
        project=project,
        annotator=crowd_worker,
        platform=Annotator.Source.PROLIFIC,
        external_id=crowd_worker.external_id,
        study_id=f"{name}-study-id",
        session_id=f"{name}-session-id",
        started_at=timezone.now(),
    )
    AnnotatorStats.objects.create(project=project, annotator=crowd_worker)
    criterion = CriterionFactory(project=project, key=f"{name}-criterion")
    item = assignment.task.item
    return Lab(
        user=user,
        project=project,
        criterion=criterion,
        item=item,
        response=item.responses.first(),
        task=assignment.task,
        assignment=assignment,
        judgment=judgment,
        annotator=annotator,
        stats=AnnotatorStats.objects.get(project=project, annotator=annotator),
        crowd_worker=crowd_worker,
        session=session,
    )


@pytest.fixture
def ada() -> Lab:
    return _lab("ada", "a")


@pytest.fixture
def ben() -> Lab:
    return _lab("ben", "b")


@pytest.fixture
def as_ada(client, ada, ben):
    client.force_login(ada.user)
    return client


MODELS = [
    "project",
    "criterion",
    "item",
    "response",
    "task",
    "assignment",
    "judgment",
    "annotatorstats",
    "annotator",
    "crowdsession",
]
ADDABLE = ["project", "criterion", "item", "response"]
DELETABLE = [*ADDABLE, "task"]


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Project,
            Criterion,
            Item,
            Response,
            Task,
            Assignment,
            Judgment,
            AnnotatorStats,
            Annotator,
            CrowdSession,
        )
    }


def _listed(client, model_name: str, query: str = "") -> set[int]:
    response = client.get(f"/admin/annotation/{model_name}/{query}")
    assert response.status_code == 200, model_name
    return {row.pk for row in response.context["cl"].result_list}


@pytest.mark.parametrize("model_name", MODELS)
def test_a_list_page_shows_only_the_researchers_own_rows(as_ada, ada, ben, model_name):
    listed = _listed(as_ada, model_name)
    assert ada.row(model_name).pk in listed
    assert ben.row(model_name).pk not in listed


@pytest.mark.parametrize("model_name", MODELS)
def test_a_superuser_sees_every_researchers_rows(client, ada, ben, model_name):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    listed = _listed(client, model_name)
    assert {ada.row(model_name).pk, ben.row(model_name).pk} <= listed


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("page", ["change", "delete", "history"])
def test_another_researchers_object_pages_are_not_found(as_ada, ben, model_name, page):
    response = as_ada.get(f"/admin/annotation/{model_name}/{ben.row(model_name).pk}/{page}/")
    if page == "delete" and model_name not in DELETABLE:
        assert response.status_code == 403  # whoever's row it is
    else:
        assert response.status_code == 302 and response["Location"] == "/admin/"


def test_another_researchers_crowd_ids_and_sessions_never_show(as_ada, ada, ben):
    for page in ["annotator", "crowdsession", "annotatorstats", "judgment", "assignment"]:
        html = as_ada.get(f"/admin/annotation/{page}/").content.decode()
        assert "b" * 24 not in html and "ben-session-id" not in html and "ben-annotator" not in html
    html = as_ada.get("/admin/annotation/crowdsession/").content.decode()
    assert "a" * 24 in html and "ada-session-id" in html


@pytest.mark.parametrize(
    "model_name",
    ["criterion", "item", "task", "assignment", "judgment", "annotatorstats", "crowdsession"],
)
def test_the_project_filter_lists_only_their_projects(as_ada, ada, ben, model_name):
    second = ProjectFactory(owner=ada.user, name="Ada second study")
    html = as_ada.get(f"/admin/annotation/{model_name}/").content.decode()
    assert f"project__id__exact={ada.project.pk}" in html
    assert f"project__id__exact={second.pk}" in html
    assert f"project__id__exact={ben.project.pk}" not in html and "Ben study" not in html


def test_a_filter_url_naming_another_project_lists_nothing(as_ada, ada, ben):
    ProjectFactory(owner=ada.user)  # two projects: the filter is in use
    assert _listed(as_ada, "judgment", f"?project__id__exact={ben.project.pk}") == set()


@pytest.mark.parametrize("model_name", ["criterion", "item"])
def test_add_forms_offer_only_their_projects(as_ada, ada, ben, model_name):
    response = as_ada.get(f"/admin/annotation/{model_name}/add/")
    assert response.status_code == 200
    choices = response.context["adminform"].form.fields["project"].queryset
    assert ada.project in choices and ben.project not in choices
    assert "Ben study" not in response.content.decode()


def test_posting_a_criterion_into_another_project_writes_nothing(as_ada, ben):
    before = _counts()
    response = as_ada.post(
        "/admin/annotation/criterion/add/",
        {
            "project": ben.project.pk,
            "key": "forged",
            "label": "Forged",
            "min": 0,
            "max": 4,
            "level": "ordinal",
            "level_labels": "{}",
            "position": 0,
        },
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert _counts() == before


def test_posting_an_item_into_another_project_writes_nothing(as_ada, ben):
    before = _counts()
    response = as_ada.post(
        "/admin/annotation/item/add/",
        {
            "project": ben.project.pk,
            "external_id": "forged",
            "prompt": '"Hi?"',
            "metadata": "{}",
            "responses-TOTAL_FORMS": 1,
            "responses-INITIAL_FORMS": 0,
            "responses-0-external_id": "r1",
            "responses-0-model": "m",
            "responses-0-text": "x",
            "responses-0-position": 0,
        },
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert _counts() == before


def test_posting_a_response_to_another_researchers_item_writes_nothing(as_ada, ben):
    before = _counts()
    response = as_ada.post(
        "/admin/annotation/response/add/",
        {"item": ben.item.pk, "external_id": "forged", "model": "m", "text": "x", "position": 9},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert _counts() == before


def test_an_item_cannot_be_moved_into_another_project(as_ada, ada, ben):
    as_ada.post(
        f"/admin/annotation/item/{ada.item.pk}/change/",
        {
            "project": ben.project.pk,
            "external_id": ada.item.external_id,
            "prompt": json.dumps(ada.item.prompt),
            "metadata": "{}",
            "responses-TOTAL_FORMS": 0,
            "responses-INITIAL_FORMS": 0,
        },
    )
    ada.item.refresh_from_db()
    assert ada.item.project == ada.project


def test_an_inline_naming_another_researchers_response_changes_nothing(as_ada, ada, ben):
    own = list(ada.item.responses.all())
    form = {
        "external_id": ada.item.external_id,
        "prompt": json.dumps(ada.item.prompt),
        "metadata": "{}",
        "responses-TOTAL_FORMS": 1,
        "responses-INITIAL_FORMS": 1,
        "responses-0-id": ben.response.pk,
        "responses-0-item": ada.item.pk,
        "responses-0-external_id": "stolen",
        "responses-0-model": "m",
        "responses-0-text": "overwritten",
        "responses-0-position": 0,
    }
    as_ada.post(f"/admin/annotation/item/{ada.item.pk}/change/", form)
    ben.response.refresh_from_db()
    assert ben.response.text != "overwritten" and ben.response.item == ben.item
    assert list(ada.item.responses.all()) == own


@pytest.mark.parametrize("model_name", ["task", "assignment", "judgment"])
def test_researchers_do_not_add_engine_rows_by_hand(as_ada, ben, model_name):
    before = _counts()
    response = as_ada.post(
        f"/admin/annotation/{model_name}/add/",
        {"project": ben.project.pk, "task": ben.task.pk, "annotator": ben.annotator.pk},
    )
    assert response.status_code == 403
    assert _counts() == before


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="annotation", codename__in=codenames)
    )


def test_even_with_add_rights_a_judgment_on_another_researchers_task_is_refused(client, ada, ben):
    _grant(ada.user, "add_judgment")
    client.force_login(ada.user)
    before = _counts()
    response = client.post(
        "/admin/annotation/judgment/add/",
        {
            "project": ben.project.pk,
            "task": ben.task.pk,
            "annotator": ben.annotator.pk,
            "choice": "a",
            "criteria": "{}",
            "scores": "{}",
            "rubric_version": 1,
            "source": "page",
        },
    )
    form = response.context["adminform"].form
    assert {"project", "task", "annotator"} <= set(form.errors)
    assert _counts() == before


def test_even_with_add_rights_a_task_on_another_researchers_responses_is_refused(client, ada, ben):
    _grant(ada.user, "add_task")
    client.force_login(ada.user)
    other = ben.item.responses.all()
    before = _counts()
    response = client.post(
        "/admin/annotation/task/add/",
        {
            "project": ada.project.pk,
            "item": ben.item.pk,
            "response_a": other[0].pk,
            "response_b": other[1].pk,
            "judgment_count": 0,
        },
    )
    assert {"item", "response_a", "response_b"} <= set(response.context["adminform"].form.errors)
    assert _counts() == before


def test_another_researchers_crowd_worker_cannot_be_made_a_member(as_ada, ada, ben):
    page = as_ada.get(f"/admin/annotation/project/{ada.project.pk}/change/")
    members = page.context["adminform"].form.fields["members"].queryset
    assert ben.crowd_worker not in members and ada.crowd_worker in members
    assert ben.annotator in members  # a local account: found by its username


def test_a_project_change_naming_another_projects_crowd_worker_writes_nothing(as_ada, ada, ben):
    form = project_form(ada.project, members=[ben.crowd_worker.pk])
    response = as_ada.post(f"/admin/annotation/project/{ada.project.pk}/change/", form)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ada.project.members.exists()


def test_posting_to_another_researchers_project_changes_nothing(as_ada, ben):
    form = project_form(ben.project, name="Taken over")
    response = as_ada.post(f"/admin/annotation/project/{ben.project.pk}/change/", form)
    assert response.status_code == 302
    ben.project.refresh_from_db()
    assert ben.project.name == "Ben study"


def project_form(project: Project, **changes) -> dict:
    """The project page's form as it stands, with `changes`."""
    form = {
        "name": project.name,
        "slug": project.slug,
        "kind": project.kind,
        "status": project.status,
        "access": project.access,
        "instructions": "",
        "annotations_per_task": project.annotations_per_task,
        "lease_seconds": project.lease_seconds,
        "strength_scale": project.strength_scale,
        "rationale": project.rationale,
        "gold_rate": project.gold_rate,
        "min_seconds_per_task": project.min_seconds_per_task,
        "flag_min_judgments": project.flag_min_judgments,
        "flag_fast_share": project.flag_fast_share,
        "flag_side_rate": project.flag_side_rate,
        "flag_min_gold_accuracy": project.flag_min_gold_accuracy,
        "qualification_tasks": project.qualification_tasks,
        "qualification_min_accuracy": project.qualification_min_accuracy,
        "crowd_new_per_hour": project.crowd_new_per_hour,
        "media_hosts": "[]",
        "owner": project.owner_id,
        "allow_tie": "on",
        "criteria-TOTAL_FORMS": 0,
        "criteria-INITIAL_FORMS": 0,
    }
    form.update(changes)
    return form


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_quality_actions_on_another_researchers_rows_do_nothing(as_ada, ben, action):
    AnnotatorStats.objects.filter(pk=ben.stats.pk).update(is_blocked=action == "unblock")
    as_ada.post(
        "/admin/annotation/annotatorstats/",
        {"action": action, "_selected_action": [ben.stats.pk]},
    )
    ben.stats.refresh_from_db()
    assert ben.stats.is_blocked == (action == "unblock")


def test_deleting_another_researchers_items_by_forged_ids_deletes_nothing(as_ada, ben):
    before = _counts()
    as_ada.post(
        "/admin/annotation/item/",
        {"action": "delete_selected", "_selected_action": [ben.item.pk], "post": "yes"},
    )
    assert _counts() == before


def test_site_wide_blocks_are_for_superusers_only(as_ada, ada):
    html = as_ada.get("/admin/annotation/annotator/").content.decode()
    assert 'value="block"' not in html and "is_blocked" not in html
    as_ada.post(
        "/admin/annotation/annotator/",
        {"action": "block", "_selected_action": [ada.crowd_worker.pk]},
    )
    ada.crowd_worker.refresh_from_db()
    assert not ada.crowd_worker.is_blocked


def test_a_superuser_blocks_site_wide(client, ada):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    client.post(
        "/admin/annotation/annotator/",
        {"action": "block", "_selected_action": [ada.crowd_worker.pk]},
    )
    ada.crowd_worker.refresh_from_db()
    assert ada.crowd_worker.is_blocked


def test_importing_into_another_researchers_project_is_refused(as_ada, ben):
    assert as_ada.get(f"/admin/annotation/project/{ben.project.pk}/import/").status_code == 404
    upload = SimpleUploadedFile("items.jsonl", json.dumps(item_rows(1, prefix="x")[0]).encode())
    response = as_ada.post(f"/admin/annotation/project/{ben.project.pk}/import/", {"file": upload})
    assert response.status_code == 404
    assert not Item.objects.filter(external_id="x0").exists()


def _autocomplete(client, term: str, model_name: str = "project", field_name: str = "members"):
    response = client.get(
        "/admin/autocomplete/",
        {
            "app_label": "annotation",
            "model_name": model_name,
            "field_name": field_name,
            "term": term,
        },
    )
    assert response.status_code == 200
    return {int(result["id"]) for result in response.json()["results"]}


def test_member_search_never_finds_another_projects_crowd_workers(as_ada, ada, ben):
    assert _autocomplete(as_ada, "bbbb") == set()
    assert _autocomplete(as_ada, ben.crowd_worker.pseudonym) == set()
    assert _autocomplete(as_ada, "aaaa") == {ada.crowd_worker.pk}
    assert ben.crowd_worker.pk not in _autocomplete(as_ada, "")
    assert ben.crowd_worker.pk not in _autocomplete(as_ada, "", "judgment", "annotator")


def test_member_search_finds_local_accounts_by_username(as_ada, ben):
    assert _autocomplete(as_ada, "ben-ann") == {ben.annotator.pk}
    assert ben.annotator.pk not in _autocomplete(as_ada, "")  # not listed, only found


def test_a_shared_researcher_works_on_the_project_but_cannot_delete_or_give_it_away(client, ada):
    colleague = researcher_create(username="cleo")
    ada.project.researchers.add(colleague)
    client.force_login(colleague)
    assert ada.item.pk in _listed(client, "item")
    page = client.get(f"/admin/annotation/project/{ada.project.pk}/change/")
    assert "owner" not in page.context["adminform"].form.fields
    client.post(f"/admin/annotation/project/{ada.project.pk}/delete/", {"post": "yes"})
    assert Project.objects.filter(pk=ada.project.pk).exists()


def test_an_owner_deletes_a_project_without_votes_but_not_collected_data(client, ada):
    empty = ProjectFactory(owner=ada.user)
    import_items(empty, 2)
    client.force_login(ada.user)
    client.post(f"/admin/annotation/project/{empty.pk}/delete/", {"post": "yes"})
    assert not Project.objects.filter(pk=empty.pk).exists()
    page = client.get(f"/admin/annotation/project/{ada.project.pk}/delete/").content.decode()
    assert "permission to delete the following types of objects" in page and "judgment" in page
    response = client.post(f"/admin/annotation/project/{ada.project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Project.objects.filter(pk=ada.project.pk).exists()


def test_crowd_sessions_list_answered_and_skipped_read_only(as_ada, ada):
    response = as_ada.get("/admin/annotation/crowdsession/")
    html = response.content.decode()
    for column in ["platform", "external id", "study id", "session id", "answered", "skipped"]:
        assert column in html.lower()
    assert as_ada.get("/admin/annotation/crowdsession/add/").status_code == 403
    page = as_ada.get(f"/admin/annotation/crowdsession/{ada.session.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()


def test_a_researcher_from_the_command_can_open_every_console_page(client):
    call_command("create_researcher", "dora", "--password", "a-long-password-1", "--no-input")
    from django.contrib.auth import get_user_model

    dora = get_user_model().objects.get(username="dora")
    lab = _lab_for(dora)
    client.force_login(dora)
    pages = ["/admin/", "/admin/annotation/"]
    pages += [f"/admin/annotation/{model}/" for model in MODELS]
    pages += [f"/admin/annotation/{model}/add/" for model in ADDABLE]
    pages += [f"/admin/annotation/{model}/{lab.row(model).pk}/change/" for model in MODELS]
    pages += [f"/admin/annotation/project/{lab.project.pk}/import/"]
    for page in pages:
        assert client.get(page).status_code == 200, page
    assert _autocomplete(client, "") == {lab.annotator.pk, lab.crowd_worker.pk}


def _lab_for(user) -> Lab:
    """A lab owned by an existing researcher."""
    lab = _lab("eve", "e")
    Project.objects.filter(pk=lab.project.pk).update(owner=user)
    return lab
