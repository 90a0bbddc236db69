"""Dataset cards ready for the Hugging Face Hub and snapshots downloaded as a dataset
repository's folder (README "Exports")."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard

from annotation.models import Project, Snapshot
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import project_update, rubric_snapshot
from annotation.services.researchers import researcher_create
from tests.annotation.test_admin_isolation import project_form
from tests.api.test_annotators_export import crowd_worker
from tests.api.test_exports import vote as page_vote
from tests.factories import (
    CriterionFactory,
    ProjectFactory,
    import_items,
    make_annotator,
)

pytestmark = pytest.mark.django_db

SNAPSHOTS = "/api/v1/projects/pairs/snapshots/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def import_votes(project: Project, *rows: dict) -> None:
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def vote(annotator: str, item: str, choice: str, kind: str = "human") -> dict:
    return {
        "annotator": annotator,
        "annotator_kind": kind,
        "item": item,
        "a": "r1",
        "b": "r2",
        "choice": choice,
    }


@pytest.fixture
def voted(pairwise) -> Project:
    import_votes(pairwise, vote("h0", "q0", "a"), vote("h1", "q0", "a"), vote("h0", "q1", "b"))
    return pairwise


def snapshot(client, capture, body: dict, path: str = SNAPSHOTS) -> dict:
    with capture(execute=True):
        response = client.post(path, body, format="json")
    assert response.status_code == 202, response.json()
    built = client.get(f"{path}{response.json()['id']}/").json()
    assert built["status"] == "ready", built["error"]
    return built


def card_of(client, capture, body: dict, path: str = SNAPSHOTS) -> DatasetCard:
    return DatasetCard(snapshot(client, capture, body, path)["card"])


# ---------------------------------------------------------------- front matter


def test_the_card_front_matter_is_what_the_hub_expects(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    voted.license = "cc-by-4.0"
    voted.content_language = "en-GB"
    voted.save()

    card = card_of(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "dpo", "filetype": "parquet"},
    )

    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0"
    assert data["language"] == ["en"]
    assert data["task_categories"] == ["text-generation", "reinforcement-learning"]
    assert data["size_categories"] == ["n<1K"]
    assert data["annotations_creators"] == ["found"]
    assert data["pretty_name"] == voted.name
    assert "dpo" in data["tags"]
    (config,) = data["configs"]
    assert config["data_files"] == [
        {"split": "train", "path": f"data/pairs-dpo-{Snapshot.objects.get().pk}.parquet"}
    ]
    assert "unspecified" not in str(card)


def test_a_project_without_a_license_says_unknown_not_unspecified(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    card = card_of(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})

    assert card.data.license == "unknown"
    assert "set its license before sharing" in card.text
    assert "language" not in card.data.to_dict()


def test_a_license_the_hub_does_not_list_is_other_with_its_name(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    voted.license, voted.license_name = "other", "acme-research-data-1.0"
    voted.save()

    card = card_of(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})

    assert (card.data.license, card.data.license_name) == ("other", "acme-research-data-1.0")


def test_an_spdx_license_outside_the_hubs_list_is_other_named_by_its_spdx_id(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    project_update(project=voted, license="0bsd")

    card = card_of(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})

    assert (card.data.license, card.data.license_name) == ("other", "0bsd")
    assert card.data.license_link == "https://spdx.org/licenses/0BSD.html"


def test_annotations_creators_come_from_the_judgments_behind_the_file(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    import_votes(voted, vote("judge", "q2", "a", kind="model"))
    crowd = crowd_worker(voted)
    local = make_annotator()
    page_vote(voted, local, choice="left")
    page_vote(voted, crowd, choice="left")

    card = card_of(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "judgments", "annotator_kind": "all"},
    )
    humans = card_of(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})

    assert card.data.annotations_creators == [
        "crowdsourced",
        "expert-generated",
        "found",
        "machine-generated",
    ]
    assert "machine-generated" not in humans.data.annotations_creators


def test_an_items_file_holds_no_annotation_unless_its_items_carry_references(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    plain = card_of(researcher_client, django_capture_on_commit_callbacks, {"format": "items"})
    row = {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}
    items_import(project=voted, rows=[(1, row)])

    labelled = card_of(researcher_client, django_capture_on_commit_callbacks, {"format": "items"})

    assert plain.data.annotations_creators == ["no-annotation"]
    assert labelled.data.annotations_creators == ["found"]


@pytest.mark.parametrize(
    ("export_format", "categories"),
    [
        ("judgments", ["text-classification", "reinforcement-learning"]),
        ("labels", ["text-classification", "reinforcement-learning"]),
        ("items", ["text-generation"]),
        ("annotators", ["tabular-classification"]),
    ],
)
def test_task_categories_fit_the_format(
    researcher_client, voted, django_capture_on_commit_callbacks, export_format, categories
):
    card = card_of(researcher_client, django_capture_on_commit_callbacks, {"format": export_format})

    assert card.data.task_categories == categories


# ---------------------------------------------------------------- rubric versions


@pytest.fixture
def rated(researcher) -> Project:
    """A rubric project judged under version 1, then under version 2 (a wider scale)."""
    project = ProjectFactory(owner=researcher, slug="rated", kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="quality", min=1, max=5)
    import_items(project, 1, responses=1)
    row = {"annotator": "h0", "item": "q0", "response": "r1", "scores": {"quality": 2}}
    import_votes(project, row)
    criteria = rubric_snapshot(project=project)
    criteria[0]["max"] = 7
    project_update(project=project, criteria=criteria)
    import_votes(project, row | {"annotator": "h1", "scores": {"quality": 7}})
    return project


def test_the_card_states_the_rubric_versions_it_holds(
    researcher_client, rated, django_capture_on_commit_callbacks
):
    path = "/api/v1/projects/rated/snapshots/"
    every = card_of(
        researcher_client, django_capture_on_commit_callbacks, {"format": "rubric"}, path
    )
    one = card_of(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "rubric", "rubric_version": 1},
        path,
    )

    assert "rubric versions of the judgments: 1, 2 (current: 2)" in every.text
    assert "Criteria of rubric version 1:" in every.text
    assert "1 to 5" in every.text and "1 to 7" in every.text
    assert "rubric version of the judgments: 1 (current: 2)" in one.text
    assert "| rubric_version | 1 |" in one.text


# ---------------------------------------------------------------- the license setting


@pytest.mark.parametrize(
    ("given", "stored"),
    [("cc-by-4.0", "CC-BY-4.0"), ("MIT", "MIT"), ("odc-by-1.0", "ODC-By-1.0"), ("", "")],
)
def test_the_license_is_set_through_the_api_in_spdx_spelling(
    researcher_client, pairwise, given, stored
):
    response = researcher_client.patch("/api/v1/projects/pairs/", {"license": given}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["license"] == stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"license": "cc-by-9.9"}, "license"),
        ({"license": "MIT OR Apache-2.0"}, "license"),
        ({"license": "other"}, "license_name"),
        ({"license": "mit", "license_name": "mine"}, "license_name"),
        ({"license": "other", "license_name": "My License"}, "license_name"),
    ],
)
def test_a_bad_license_is_a_400_naming_the_field(researcher_client, pairwise, body, field):
    response = researcher_client.patch("/api/v1/projects/pairs/", body, format="json")

    assert response.status_code == 400
    assert field in [error["field"] for error in response.json()["errors"]]
    pairwise.refresh_from_db()
    assert pairwise.license == ""


def test_the_console_sets_the_license(client):
    owner = researcher_create(username="license-owner")
    project = ProjectFactory(owner=owner, slug="licensed")
    client.force_login(owner)
    url = f"/admin/annotation/project/{project.pk}/change/"
    assert b'name="license_name"' in client.get(url).content

    saved = client.post(url, project_form(project, license="cc-by-sa-4.0"))
    refused = client.post(url, project_form(project, license="other"))

    assert saved.status_code == 302
    assert refused.status_code == 200 and "name the license" in refused.content.decode()
    project.refresh_from_db()
    assert project.license == "CC-BY-SA-4.0"


# ---------------------------------------------------------------- the folder download


def folder_of(client, snapshot_body: dict, tmp_path: Path) -> Path:
    response = client.get(snapshot_body["download_url"], {"as": "folder"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"pairs-{snapshot_body['query']['format']}-" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    folder = tmp_path / "folder"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(folder)
    return folder


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
def test_the_folder_download_loads_with_load_dataset_as_it_is(
    researcher_client, voted, django_capture_on_commit_callbacks, tmp_path, filetype
):
    datasets = pytest.importorskip("datasets")
    built = snapshot(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "dpo", "filetype": filetype},
    )

    folder = folder_of(researcher_client, built, tmp_path)

    names = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    assert names == ["README.md", f"data/pairs-dpo-{built['id']}.{filetype}"]
    assert (folder / "README.md").read_text() == built["card"]
    assert DatasetCard.load(folder / "README.md").data.license == "unknown"
    dataset = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert list(dataset) == ["train"]
    assert dataset["train"].num_rows == built["row_count"] == 2
    assert {"prompt", "chosen", "rejected"} <= set(dataset["train"].column_names)


def test_the_folders_data_file_is_the_snapshots_file(
    researcher_client, voted, django_capture_on_commit_callbacks, tmp_path
):
    built = snapshot(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "judgments", "filetype": "parquet"},
    )
    plain = b"".join(researcher_client.get(built["download_url"]).streaming_content)

    folder = folder_of(researcher_client, built, tmp_path)

    assert (folder / "data" / f"pairs-judgments-{built['id']}.parquet").read_bytes() == plain


def test_a_bad_as_is_a_400_naming_it(researcher_client, voted, django_capture_on_commit_callbacks):
    built = snapshot(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})

    response = researcher_client.get(built["download_url"], {"as": "tarball"})

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["as"]
