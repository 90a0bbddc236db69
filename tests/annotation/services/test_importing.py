from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.errors import ImportRejected
from annotation.models import Item, Judgment, Project, Response, Task
from annotation.services.importing import items_import, split_hh_conversation
from tests.factories import ProjectFactory, item_rows, rubric_project

HH_SAMPLE = (
    Path(__file__).resolve().parents[3].parent / "shared/data/hh-rlhf-harmless-base-test-500.jsonl"
)

pytestmark = pytest.mark.django_db


def _jsonl(rows: list[object]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_pairwise_item_gets_a_task_for_every_pair_of_responses():
    project = ProjectFactory()
    result = items_import(project=project, content=_jsonl(item_rows(2, responses=3)))
    assert result.items_created == 2
    assert Task.objects.filter(project=project).count() == 6  # 3 pairs per item


def test_explicit_pairs_limit_the_tasks():
    project = ProjectFactory()
    row = item_rows(1, responses=3)[0] | {"pairs": [["r1", "r3"]]}
    items_import(project=project, content=_jsonl([row]))
    task = Task.objects.get(project=project)
    assert (task.response_a.external_id, task.response_b.external_id) == ("r1", "r3")


def test_rubric_item_gets_a_task_per_response():
    project = rubric_project()
    items_import(project=project, content=_jsonl(item_rows(2, responses=2)))
    tasks = Task.objects.filter(project=project)
    assert tasks.count() == 4
    assert all(t.response_b_id is None for t in tasks)


def test_response_ids_default_to_position():
    project = ProjectFactory()
    row = {
        "id": "q",
        "prompt": "p",
        "responses": [{"model": "m", "text": "a"}, {"model": "n", "text": ""}],
    }
    items_import(project=project, content=_jsonl([row]))
    assert list(Response.objects.values_list("external_id", "text")) == [("r1", "a"), ("r2", "")]


def test_chat_prompt_is_kept_as_messages():
    project = ProjectFactory()
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "more"},
    ]
    row = item_rows(1)[0] | {"prompt": messages}
    items_import(project=project, content=_jsonl([row]))
    assert Item.objects.get().prompt == messages


def test_reimporting_the_same_ids_updates_without_duplicating():
    project = ProjectFactory()
    rows = item_rows(3)
    items_import(project=project, content=_jsonl(rows))
    rows[0]["prompt"] = "Changed?"
    result = items_import(project=project, content=_jsonl(rows))
    assert (result.items_created, result.items_updated, result.tasks_created) == (0, 1, 0)
    assert result.items_unchanged == 2
    assert Item.objects.filter(project=project).count() == 3
    assert Item.objects.get(external_id="q0").prompt == "Changed?"


def test_reimport_keeps_existing_judgments(django_user_model):
    from annotation.services.assignment import assignment_lease
    from annotation.services.judging import judgment_submit
    from tests.factories import make_annotator

    project = ProjectFactory()
    rows = item_rows(1)
    items_import(project=project, content=_jsonl(rows))
    annotator = make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    items_import(project=project, content=_jsonl(rows))
    assert Judgment.objects.filter(project=project).count() == 1


def test_bad_lines_are_all_reported_with_line_numbers_and_nothing_is_imported():
    project = ProjectFactory()
    good = item_rows(1)[0]
    content = "\n".join(
        [
            json.dumps(good),
            "{not json",
            json.dumps({"id": "x", "prompt": "p"}),
            json.dumps(good),
            json.dumps(item_rows(1, prefix="z")[0] | {"pairs": [["r1", "r9"]]}),
        ]
    ).encode()
    with pytest.raises(ImportRejected) as caught:
        items_import(project=project, content=content)
    lines = [e["line"] for e in caught.value.errors]
    assert lines == [2, 3, 4, 5]
    assert "duplicate id" in caught.value.errors[2]["error"]
    assert "r9" in caught.value.errors[3]["error"]
    assert not Item.objects.filter(project=project).exists()


def test_a_file_that_is_not_utf8_is_refused_naming_its_line():
    project = ProjectFactory()
    content = _jsonl(item_rows(1)) + b"\n" + '{"id": "caf\xe9"}'.encode("latin-1")
    with pytest.raises(ImportRejected) as caught:
        items_import(project=project, content=content)
    assert caught.value.errors[0]["line"] == 2
    assert not Item.objects.exists()


def test_missing_model_is_refused():
    project = ProjectFactory()
    row = {"id": "q", "prompt": "p", "responses": [{"text": "a"}, {"model": "m", "text": "b"}]}
    with pytest.raises(ImportRejected) as caught:
        items_import(project=project, content=_jsonl([row]))
    assert "model" in caught.value.errors[0]["error"]


def test_csv_with_the_same_columns_imports():
    project = ProjectFactory()
    responses = json.dumps(
        [{"id": "r1", "model": "m1", "text": "a, b"}, {"id": "r2", "model": "m2", "text": "c"}]
    )
    csv_text = 'id,prompt,responses\nq1,"Why, though?","' + responses.replace('"', '""') + '"\n'
    result = items_import(project=project, content=csv_text.encode(), filetype="csv")
    assert result.items_created == 1
    assert Item.objects.get().prompt == "Why, though?"


def test_csv_bad_json_column_names_its_line():
    project = ProjectFactory()
    csv_text = "id,prompt,responses\nq1,p,[not json\n"
    with pytest.raises(ImportRejected) as caught:
        items_import(project=project, content=csv_text.encode(), filetype="csv")
    assert caught.value.errors[0]["line"] == 2


def test_trl_form_keeps_the_original_label_as_reference():
    project = ProjectFactory()
    row = {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}
    items_import(project=project, content=_jsonl([row]))
    item = Item.objects.get()
    assert item.reference == {"preferred": "chosen"}
    assert item.external_id.startswith("sha-")
    assert sorted(item.responses.values_list("text", flat=True)) == ["Hi!", "No."]


def test_hh_conversation_splits_into_shared_prompt_and_two_replies():
    chosen = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Joke?\n\nAssistant: Sure, one."
    rejected = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Joke?\n\nAssistant: No."
    prompt, good, bad = split_hh_conversation(chosen, rejected)
    assert prompt == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Joke?"},
    ]
    assert (good, bad) == ("Sure, one.", "No.")


@pytest.mark.skipif(not HH_SAMPLE.exists(), reason="shared HH-RLHF sample not present")
def test_importing_the_hh_rlhf_sample_twice_gives_500_items():
    project = ProjectFactory()
    content = HH_SAMPLE.read_bytes()
    items_import(project=project, content=content)
    items_import(project=project, content=content)
    assert Item.objects.filter(project=project).count() == 500
    assert Task.objects.filter(project=project).count() == 500


def test_gold_preferred_marks_the_pair_with_its_answer():
    project = ProjectFactory()
    row = item_rows(1, responses=3)[0] | {"gold": {"preferred": "r2"}}
    items_import(project=project, content=_jsonl([row]))
    gold = {
        (t.response_a.external_id, t.response_b.external_id): t.gold_answer
        for t in Task.objects.filter(is_gold=True)
    }
    assert gold == {("r1", "r2"): {"choice": "b"}, ("r2", "r3"): {"choice": "a"}}


def test_rubric_gold_scores_outside_the_range_are_refused():
    project = rubric_project()
    row = item_rows(1, responses=1)[0] | {"gold": {"scores": {"r1": {"helpfulness": 9}}}}
    with pytest.raises(ImportRejected) as caught:
        items_import(project=project, content=_jsonl([row]))
    assert "outside 0..4" in caught.value.errors[0]["error"]


def test_pairwise_item_with_one_response_is_refused():
    project = ProjectFactory(kind=Project.Kind.PAIRWISE)
    with pytest.raises(ImportRejected):
        items_import(project=project, content=_jsonl(item_rows(1, responses=1)))


def test_imported_responses_carry_their_style_features_and_a_new_text_recounts_them():
    project = ProjectFactory()
    row = {
        "id": "q",
        "prompt": "Explain",
        "responses": [
            {"id": "terse", "model": "m1", "text": "Short answer."},
            {"id": "rich", "model": "m2", "text": "# Plan\n- **one**\n- two\n\n```py\nx = 1\n```"},
        ],
    }
    items_import(project=project, content=_jsonl([row]))
    styles = dict(Response.objects.values_list("external_id", "style"))
    assert styles["terse"] == {
        "chars": 13,
        "tokens": 2,
        "headers": 0,
        "list_items": 0,
        "bold": 0,
        "code_blocks": 0,
    }
    assert styles["rich"] | {"chars": 0} == {
        "chars": 0,
        "tokens": 11,
        "headers": 1,
        "list_items": 2,
        "bold": 1,
        "code_blocks": 1,
    }
    row["responses"][0]["text"] = "Now **much** longer than before."
    result = items_import(project=project, content=_jsonl([row]))
    assert result.items_updated == 1
    assert Response.objects.get(external_id="terse").style["bold"] == 1
    assert Response.objects.get(external_id="terse").style["tokens"] == 5
