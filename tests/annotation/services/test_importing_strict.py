"""Item import, strict and exact (README "Import format" and "REST API"): a key an
item row should not have is refused by name and line; the TRL conversational form without
a `prompt` imports, its shared leading messages becoming the prompt; a re-import counts as
updated only the items it changed."""

from __future__ import annotations

import json

import pytest

from annotation.errors import ImportRejected
from annotation.models import Item, Response, Task
from annotation.services.importing import items_import
from tests.factories import ProjectFactory, item_rows, rubric_project

pytestmark = pytest.mark.django_db


def numbered(rows: list) -> list[tuple[int, object]]:
    return list(enumerate(rows, start=1))


def refused(project, rows: list) -> list[dict]:
    with pytest.raises(ImportRejected) as caught:
        items_import(project=project, rows=numbered(rows))
    assert not Item.objects.filter(project=project).exists()
    return caught.value.errors


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# ---------------------------------------------------------------- unknown keys


def test_an_unknown_key_of_an_item_is_refused_by_name_and_line():
    project = ProjectFactory()
    rows = item_rows(3)
    rows[1]["colour"] = "red"
    rows[2]["source"] = "mt-bench"
    rows[2]["split"] = "test"

    assert refused(project, rows) == [
        {"line": 2, "error": "colour: unknown key"},
        {"line": 3, "error": "source: unknown key; split: unknown key"},
    ]


def test_an_unknown_key_of_a_response_is_refused_by_name_and_line():
    project = ProjectFactory()
    rows = item_rows(1)
    rows[0]["responses"][1]["score"] = 7

    assert refused(project, rows) == [{"line": 1, "error": "response 2: score: unknown key"}]


def test_an_unknown_key_of_a_preference_row_is_refused_by_name():
    project = ProjectFactory()
    row = {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away", "score_chosen": 9}

    assert refused(project, [row]) == [{"line": 1, "error": "score_chosen: unknown key"}]


def test_a_csv_column_the_format_does_not_have_is_refused_by_name():
    project = ProjectFactory()
    content = (
        b'id,prompt,responses,notes\nq1,Hi?,"[{""model"": ""x""}, {""model"": ""y""}]",keep me\n'
    )

    with pytest.raises(ImportRejected) as caught:
        items_import(project=project, content=content, filetype="csv")

    assert caught.value.errors == [{"line": 2, "error": "notes: unknown key"}]


def test_every_key_of_the_import_format_is_taken():
    project = ProjectFactory()
    row = item_rows(1)[0] | {
        "pairs": [["r1", "r2"]],
        "metadata": {"source": "mt-bench"},
        "reference": {"preferred": "r1"},
        "gold": {"preferred": "r2"},
    }

    items_import(project=project, rows=numbered([row]))

    item = Item.objects.get()
    assert (item.metadata, item.reference, item.gold) == (
        {"source": "mt-bench"},
        {"preferred": "r1"},
        {"preferred": "r2"},
    )


def test_metadata_that_is_not_an_object_is_refused_not_dropped():
    project = ProjectFactory()
    native = item_rows(1)[0] | {"metadata": "mt-bench"}
    trl = {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away", "metadata": "mt-bench"}

    assert refused(project, [native, trl]) == [
        {"line": 1, "error": '"metadata" must be an object'},
        {"line": 2, "error": '"metadata" must be an object'},
    ]


def test_a_reference_that_is_not_an_object_is_refused_not_dropped():
    project = ProjectFactory()

    errors = refused(project, [item_rows(1)[0] | {"reference": "r1"}])

    assert errors == [{"line": 1, "error": '"reference" must be an object'}]


def test_an_unknown_key_of_a_message_is_refused_by_name():
    project = ProjectFactory()
    prompt = [{"role": "user", "content": "Hi", "name": "ann"}]

    errors = refused(project, [item_rows(1)[0] | {"prompt": prompt}])

    assert errors == [{"line": 1, "error": "prompt message 1: name: unknown key"}]


# ---------------------------------------------------------------- TRL conversational, no prompt


def test_the_conversational_form_without_a_prompt_imports_its_shared_turns_as_the_prompt():
    project = ProjectFactory()
    row = {
        "chosen": [user("What is 2 + 2?"), assistant("4")],
        "rejected": [user("What is 2 + 2?"), assistant("5")],
    }

    items_import(project=project, rows=numbered([row]))

    item = Item.objects.get()
    assert item.prompt == [user("What is 2 + 2?")]
    assert item.reference == {"preferred": "chosen"}
    texts = dict(item.responses.values_list("external_id", "text"))
    assert texts == {"chosen": "4", "rejected": "5"}
    assert Task.objects.filter(item=item).count() == 1


def test_a_longer_shared_conversation_is_all_prompt():
    project = ProjectFactory()
    shared = [
        {"role": "system", "content": "Be brief."},
        user("Hi"),
        assistant("Hello"),
        user("Joke?"),
    ]
    row = {"chosen": [*shared, assistant("Sure, one.")], "rejected": [*shared, assistant("No.")]}

    items_import(project=project, rows=numbered([row]))

    item = Item.objects.get()
    assert item.prompt == shared
    assert sorted(item.responses.values_list("text", flat=True)) == ["No.", "Sure, one."]


def test_the_same_conversational_row_twice_is_one_item():
    project = ProjectFactory()
    row = {"chosen": [user("Hi"), assistant("Hello")], "rejected": [user("Hi"), assistant("Go")]}

    items_import(project=project, rows=numbered([row]))
    again = items_import(project=project, rows=numbered([row]))

    assert (again.items_created, again.items_updated) == (0, 0)
    assert Item.objects.count() == 1


@pytest.mark.parametrize(
    ("chosen", "rejected", "error"),
    [
        pytest.param(
            [user("Hi"), assistant("Hello")],
            [user("Hey"), assistant("Go")],
            '"chosen" and "rejected" share no leading user turn',
            id="different-first-turn",
        ),
        pytest.param(
            [{"role": "system", "content": "Be brief."}, user("Hi"), assistant("A")],
            [{"role": "system", "content": "Be brief."}, user("Hey"), assistant("B")],
            '"chosen" and "rejected" share no leading user turn',
            id="only-the-system-turn-shared",
        ),
        pytest.param(
            [user("Hi"), assistant("Hello")],
            [user("Hi"), assistant("Hello")],
            '"chosen" and "rejected" are the same conversation',
            id="identical",
        ),
        pytest.param(
            [user("Hi")],
            [user("Hi"), assistant("Go")],
            '"chosen" has no reply after the shared prompt',
            id="no-reply",
        ),
        pytest.param(
            [user("Hi"), assistant("A"), user("More?")],
            [user("Hi"), assistant("B")],
            '"chosen" message 3: a user turn after the shared prompt',
            id="user-turn-in-reply",
        ),
        pytest.param(
            [user("Hi"), {"role": "robot", "content": "A"}],
            [user("Hi"), assistant("B")],
            "\"chosen\" message 2 has an unknown role 'robot'",
            id="unknown-role",
        ),
        pytest.param(
            [user("Hi"), {"role": "assistant", "text": "A"}],
            [user("Hi"), assistant("B")],
            '"chosen" message 2 needs a string "content"',
            id="no-content",
        ),
        pytest.param(
            [user("Hi"), "A"],
            [user("Hi"), assistant("B")],
            '"chosen" message 2 must be an object',
            id="not-an-object",
        ),
        pytest.param(
            [user("Hi"), assistant("A")],
            "\n\nHuman: Hi\n\nAssistant: B",
            'without "prompt", "chosen" and "rejected" must both be conversations: '
            "two lists of messages, or two HH-RLHF transcripts",
            id="mixed-forms",
        ),
        pytest.param(
            [],
            [user("Hi"), assistant("B")],
            '"chosen" must be a non-empty list of messages',
            id="empty",
        ),
    ],
)
def test_a_malformed_conversational_row_is_refused_naming_its_line(chosen, rejected, error):
    project = ProjectFactory()
    good = {"chosen": [user("Q"), assistant("A")], "rejected": [user("Q"), assistant("B")]}

    errors = refused(project, [good, {"chosen": chosen, "rejected": rejected}])

    assert errors == [{"line": 2, "error": error}]


def test_the_conversational_form_reads_from_json_lines_and_csv():
    project = ProjectFactory()
    row = {"chosen": [user("Hi"), assistant("A")], "rejected": [user("Hi"), assistant("B")]}
    jsonl = (json.dumps(row) + "\n").encode()
    cell = (
        json.dumps(row["chosen"]).replace('"', '""'),
        json.dumps(row["rejected"]).replace('"', '""'),
    )
    csv = f'chosen,rejected\n"{cell[0]}","{cell[1]}"\n'.encode()

    from_jsonl = items_import(project=project, content=jsonl, filetype="jsonl")
    from_csv = items_import(project=project, content=csv, filetype="csv")

    assert (from_jsonl.items_created, from_csv.items_created, from_csv.items_updated) == (1, 0, 0)
    assert Item.objects.get().prompt == [user("Hi")]


# ---------------------------------------------------------------- what a re-import counts


def test_a_reimport_counts_each_changed_item_once():
    project = ProjectFactory()
    rows = item_rows(6)
    items_import(project=project, rows=numbered(rows))
    stamps = dict(Item.objects.values_list("external_id", "updated_at"))
    rows[0]["prompt"] = "Changed?"
    rows[0]["metadata"] = {"fixed": True}
    rows[1]["responses"][1]["text"] = "A better answer."
    rows[2]["responses"][0]["model"] = "model-renamed"
    rows[3]["responses"].append({"id": "r3", "model": "model-9", "text": "A third."})
    rows[4]["gold"] = {"preferred": "r1"}
    rows.append(item_rows(1, prefix="new")[0])

    result = items_import(project=project, rows=numbered(rows))

    assert (result.items_created, result.items_updated, result.items_unchanged) == (1, 5, 1)
    assert (result.responses_created, result.tasks_created) == (3, 3)
    after = dict(Item.objects.values_list("external_id", "updated_at"))
    assert [key for key in stamps if after[key] != stamps[key]] == ["q0", "q1", "q2", "q3", "q4"]
    assert Response.objects.get(item__external_id="q1", external_id="r2").text == (
        "A better answer."
    )


def test_a_rubric_reimport_with_new_gold_scores_counts_that_item():
    project = rubric_project()
    rows = item_rows(2, responses=1)
    items_import(project=project, rows=numbered(rows))
    rows[1]["gold"] = {"scores": {"r1": {"helpfulness": 3}}}

    result = items_import(project=project, rows=numbered(rows))

    assert (result.items_updated, result.items_unchanged) == (1, 1)
