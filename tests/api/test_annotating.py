"""The annotator API: lease the next task, post a judgment, skip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Assignment, Judgment, Project, Response
from annotation.services.annotators import annotator_for_user
from annotation.services.tokens import api_token_create
from tests.factories import AnnotatorUserFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db

MODEL_NAMES = (b"model-0", b"model-1")


# The hot paths' query counts, measured. A change means the path changed: make sure it is
# on purpose, and that the count still does not depend on how many tasks there are.
# project, block + quiz + open lease, BEGIN, pick, lease, COMMIT, criteria (the client is
# signed in without a token query; the test's transaction turns BEGIN/COMMIT into savepoints)
NEXT_TASK_QUERIES = 7


# assignment with project and task, criteria, BEGIN, claim the lease, count the vote, insert
# the judgment, upsert the annotator's figures, COMMIT; the same for a first judgment.
JUDGMENT_QUERIES = 8

# assignment with project and task, renew the lease
RENEW_QUERIES = 2


def next_task(client, slug: str = "pairs"):
    return client.get(f"/api/v1/projects/{slug}/tasks/next/")


def judge(client, assignment_id: int, body):
    return client.post(f"/api/v1/assignments/{assignment_id}/judgment/", body, format="json")


def leased(client, slug: str = "pairs") -> dict:
    response = next_task(client, slug)
    assert response.status_code == 200
    return response.json()


def leased_showing_left(client, response: str) -> dict:
    """Lease a task, put its response `response` ("a" or "b") on the left, and read the
    lease again (tasks/next resumes it), so a test knows which side shows what."""
    task = leased(client)
    assignment = Assignment.objects.select_related("task").get(pk=task["assignment"])
    left = assignment.task.response_a_id if response == "a" else assignment.task.response_b_id
    Assignment.objects.filter(pk=assignment.pk).update(left_response_id=left)
    again = leased(client)
    assert again["assignment"] == task["assignment"]
    return again


# ---------------------------------------------------------------- tasks/next


def test_next_task_has_the_contract_shape_for_a_pairwise_task(annotator_client, pairwise):
    response = next_task(annotator_client)

    assert response.status_code == 200
    task = response.json()
    assert {"assignment", "kind", "prompt", "left", "right", "criteria", "expires_at"} <= set(task)
    assert "response" not in task
    assert task["kind"] == "pairwise"
    assert task["prompt"] == "Question 0?"
    assert {task["left"]["text"], task["right"]["text"]} == {"Answer 0 to 0.", "Answer 1 to 0."}
    assert Assignment.objects.get(pk=task["assignment"]).status == "leased"


def test_next_task_names_no_model(annotator_client, pairwise):
    response = next_task(annotator_client)

    for model in MODEL_NAMES:
        assert model not in response.content
    assert b"model" not in response.content


def test_next_task_for_a_rubric_project_shows_one_response_and_the_criteria(
    annotator_client, rubric
):
    response = next_task(annotator_client, "rated")

    task = response.json()
    assert task["kind"] == "rubric"
    assert task["response"] == {"text": "Answer 0 to 0."}
    assert "left" not in task and "right" not in task
    assert [c["key"] for c in task["criteria"]] == ["helpfulness", "correctness"]
    assert task["criteria"][0]["level_labels"] == {"0": "bad", "4": "great"}
    assert b"model-0" not in response.content


def test_next_task_twice_resumes_the_same_lease(annotator_client, pairwise):
    first = leased(annotator_client)

    assert leased(annotator_client)["assignment"] == first["assignment"]


def test_next_task_is_204_when_nothing_is_left(annotator_client, researcher):
    ProjectFactory(owner=researcher, slug="empty")

    response = next_task(annotator_client, "empty")

    assert response.status_code == 204
    assert response.content == b""


def test_next_task_never_offers_a_task_already_judged(annotator_client, pairwise):
    seen = []
    while (response := next_task(annotator_client)).status_code == 200:
        task = response.json()
        seen.append(task["prompt"])
        assert judge(annotator_client, task["assignment"], {"choice": "tie"}).status_code == 201

    assert response.status_code == 204
    assert sorted(seen) == ["Question 0?", "Question 1?", "Question 2?"]


def test_next_task_is_204_once_the_annotator_reached_their_quota(annotator_client, pairwise):
    pairwise.max_tasks_per_annotator = 1
    pairwise.save()
    task = leased(annotator_client)
    judge(annotator_client, task["assignment"], {"choice": "tie"})

    assert next_task(annotator_client).status_code == 204


def test_annotator_works_with_their_own_token(annotator_user, pairwise):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(username=annotator_user.username)}"
    )

    task = leased(client)

    assert judge(client, task["assignment"], {"choice": "left"}).status_code == 201


def test_next_task_on_a_paused_project_is_a_403(annotator_client, pairwise):
    pairwise.status = Project.Status.PAUSED
    pairwise.save()

    response = next_task(annotator_client)

    assert response.status_code == 403
    assert "paused" in response.json()["detail"]


def test_next_task_on_a_members_project_is_a_403_for_non_members(annotator_client, pairwise):
    pairwise.access = Project.Access.MEMBERS
    pairwise.save()

    assert next_task(annotator_client).status_code == 403


def test_next_task_on_a_members_project_works_for_members(annotator_client, annotator, pairwise):
    pairwise.access = Project.Access.MEMBERS
    pairwise.save()
    pairwise.members.add(annotator)

    assert next_task(annotator_client).status_code == 200


def test_next_task_for_a_blocked_annotator_is_a_403(annotator_client, annotator, pairwise):
    annotator.is_blocked = True
    annotator.save()

    assert next_task(annotator_client).status_code == 403


def test_next_task_on_an_unknown_project_is_a_404(annotator_client):
    assert next_task(annotator_client, "nope").status_code == 404


@pytest.mark.parametrize("items", [2, 20])
def test_next_task_takes_a_fixed_number_of_queries(
    annotator_client, annotator, researcher, django_assert_num_queries, items
):
    project = ProjectFactory(owner=researcher, slug="many")
    import_items(project, items)

    with django_assert_num_queries(NEXT_TASK_QUERIES):
        assert next_task(annotator_client, "many").status_code == 200


# ---------------------------------------------------------------- judgments


@pytest.mark.parametrize("left", ["a", "b"])
@pytest.mark.parametrize("choice", ["left", "right"])
def test_judgment_is_stored_as_the_response_shown_on_that_side(
    annotator_client, pairwise, left, choice
):
    task = leased_showing_left(annotator_client, left)

    response = judge(annotator_client, task["assignment"], {"choice": choice})

    assert response.status_code == 201
    judgment = Judgment.objects.get(pk=response.json()["id"])
    picked = Response.objects.get(item__project=pairwise, text=task[choice]["text"])
    expected = "a" if picked.pk == judgment.task.response_a_id else "b"
    assert judgment.choice == expected
    shown_left = Response.objects.get(item__project=pairwise, text=task["left"]["text"])
    assert judgment.shown_left_id == shown_left.pk


def test_judgment_answer_names_the_judgment_and_assignment(annotator_client, pairwise):
    task = leased(annotator_client)

    body = judge(annotator_client, task["assignment"], {"choice": "tie"}).json()

    assert set(body) == {"id", "assignment", "created_at"}
    assert body["assignment"] == task["assignment"]


def test_pairwise_criteria_are_stored_canonically(annotator_client, pairwise):
    pairwise.criteria.create(key="clarity", label="Clarity", min=0, max=1)
    task = leased_showing_left(annotator_client, "b")

    response = judge(
        annotator_client,
        task["assignment"],
        {"choice": "left", "criteria": {"clarity": "right"}},
    )

    assert response.status_code == 201
    judgment = Judgment.objects.get()
    assert (judgment.choice, judgment.criteria) == ("b", {"clarity": "a"})


def test_rubric_scores_are_stored(annotator_client, rubric):
    task = leased(annotator_client, "rated")

    response = judge(
        annotator_client, task["assignment"], {"scores": {"helpfulness": 4, "correctness": 0}}
    )

    assert response.status_code == 201
    assert Judgment.objects.get().scores == {"helpfulness": 4, "correctness": 0}


def test_strength_is_stored_when_the_project_has_a_scale(annotator_client, pairwise):
    pairwise.strength_scale = 3
    pairwise.save()
    task = leased(annotator_client)

    response = judge(annotator_client, task["assignment"], {"choice": "left", "strength": 3})

    assert response.status_code == 201
    assert Judgment.objects.get().strength == 3


def test_same_body_posted_twice_is_stored_once(annotator_client, pairwise):
    task = leased(annotator_client)

    first = judge(annotator_client, task["assignment"], {"choice": "left", "seconds": 3.5})
    retry = judge(annotator_client, task["assignment"], {"choice": "left", "seconds": 3.5})

    assert first.status_code == 201
    assert 200 <= retry.status_code < 300
    assert retry.json()["id"] == first.json()["id"]
    assert Judgment.objects.count() == 1


def test_different_body_after_a_judgment_is_a_409(annotator_client, pairwise):
    task = leased(annotator_client)
    judge(annotator_client, task["assignment"], {"choice": "left"})

    response = judge(annotator_client, task["assignment"], {"choice": "right"})

    assert response.status_code == 409
    assert Judgment.objects.get().choice in ("a", "b")
    assert Judgment.objects.count() == 1


def test_judging_someone_elses_assignment_is_a_403(annotator_client, pairwise, api_client_for):
    other = api_client_for(AnnotatorUserFactory())
    task = leased(other)

    response = judge(annotator_client, task["assignment"], {"choice": "left"})

    assert response.status_code == 403
    assert not Judgment.objects.exists()


def test_judging_an_unknown_assignment_is_a_404(annotator_client, pairwise):
    response = judge(annotator_client, 999_999, {"choice": "left"})

    assert response.status_code == 404


def test_judging_after_the_lease_expired_is_a_410(annotator_client, pairwise):
    task = leased(annotator_client)
    Assignment.objects.filter(pk=task["assignment"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = judge(annotator_client, task["assignment"], {"choice": "left"})

    assert response.status_code == 410
    assert not Judgment.objects.exists()


def test_an_expired_lease_returns_the_task_to_the_pool(annotator_client, pairwise, api_client_for):
    pairwise.annotations_per_task = 1
    pairwise.save()
    task = leased(annotator_client)
    Assignment.objects.filter(pk=task["assignment"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    other = leased(api_client_for(AnnotatorUserFactory()))

    assert other["prompt"] == task["prompt"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"choice": "middle"}, id="unknown-choice"),
        pytest.param({}, id="no-choice"),
        pytest.param({"choice": "left", "strength": 4}, id="strength-out-of-scale"),
        pytest.param({"choice": "left", "strength": 0}, id="strength-zero"),
        pytest.param({"choice": "left", "strength": "much"}, id="strength-not-a-number"),
        pytest.param({"choice": "left", "strength": 2, "seconds": -1}, id="negative-seconds"),
        pytest.param({"choice": "left", "strength": 2, "seconds": "x"}, id="seconds-not-a-number"),
        pytest.param({"choice": ["left"], "strength": 2}, id="choice-a-list"),
        pytest.param({"choice": "left", "strength": 2, "colour": "red"}, id="unknown-field"),
        pytest.param({"choice": "left", "strength": 2, "criteria": "x"}, id="criteria-not-a-dict"),
        pytest.param({"choice": "left", "strength": 2, "scores": {"a": 1}}, id="scores-in-pairs"),
        pytest.param(["left"], id="body-a-list"),
    ],
)
def test_bad_pairwise_body_is_a_400_json(annotator_client, pairwise, body):
    pairwise.strength_scale = 3
    pairwise.save()
    task = leased(annotator_client)

    response = judge(annotator_client, task["assignment"], body)

    assert response.status_code == 400
    assert set(response.json()) == {"detail", "errors"}
    assert response.json()["errors"]
    assert not Judgment.objects.exists()


@pytest.mark.parametrize(
    "scores",
    [
        pytest.param({"helpfulness": 5, "correctness": 0}, id="above-max"),
        pytest.param({"helpfulness": -1, "correctness": 0}, id="below-min"),
        pytest.param({"helpfulness": 2}, id="criterion-missing"),
        pytest.param({"helpfulness": 2, "correctness": 2, "tone": 1}, id="unknown-criterion"),
        pytest.param({"helpfulness": 2.5, "correctness": 2}, id="not-an-integer"),
        pytest.param({"helpfulness": "good", "correctness": 2}, id="a-word"),
    ],
)
def test_bad_rubric_scores_are_a_400_json(annotator_client, rubric, scores):
    task = leased(annotator_client, "rated")

    response = judge(annotator_client, task["assignment"], {"scores": scores})

    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Judgment.objects.exists()


def test_malformed_json_is_a_400_json(annotator_client, pairwise):
    task = leased(annotator_client)

    response = annotator_client.post(
        f"/api/v1/assignments/{task['assignment']}/judgment/",
        '{"choice": "left",',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"detail", "errors"}


def test_tie_is_a_400_when_the_project_allows_none(annotator_client, pairwise):
    pairwise.allow_tie = False
    pairwise.save()
    task = leased(annotator_client)

    response = judge(annotator_client, task["assignment"], {"choice": "tie"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "choice"


def test_both_bad_is_accepted_when_the_project_allows_it(annotator_client, pairwise):
    pairwise.allow_both_bad = True
    pairwise.save()
    task = leased(annotator_client)

    assert judge(annotator_client, task["assignment"], {"choice": "both_bad"}).status_code == 201
    assert Judgment.objects.get().choice == "both_bad"


def test_rationale_is_required_when_the_project_asks_for_one(annotator_client, pairwise):
    pairwise.rationale = Project.Rationale.REQUIRED
    pairwise.save()
    task = leased(annotator_client)

    response = judge(annotator_client, task["assignment"], {"choice": "left"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "rationale"


def test_judging_on_a_paused_project_is_a_403(annotator_client, pairwise):
    task = leased(annotator_client)
    pairwise.status = Project.Status.PAUSED
    pairwise.save()

    response = judge(annotator_client, task["assignment"], {"choice": "left"})

    assert response.status_code == 403
    assert not Judgment.objects.exists()


@pytest.mark.parametrize("earlier", [0, 1, 10])
def test_judgment_post_takes_a_fixed_number_of_queries(
    annotator_client, annotator, researcher, django_assert_num_queries, earlier
):
    project = ProjectFactory(owner=researcher, slug="many")
    import_items(project, earlier + 2)
    for _ in range(earlier):
        task = leased(annotator_client, "many")
        judge(annotator_client, task["assignment"], {"choice": "left"})
    task = leased(annotator_client, "many")

    with django_assert_num_queries(JUDGMENT_QUERIES):
        assert judge(annotator_client, task["assignment"], {"choice": "left"}).status_code == 201


def test_the_api_is_not_armed_a_judgment_posted_at_once_is_stored(annotator_client, pairwise):
    pairwise.arming_ms = 10_000
    pairwise.save()
    task = leased(annotator_client)

    assert judge(annotator_client, task["assignment"], {"choice": "left"}).status_code == 201


@pytest.mark.parametrize("choice", ["tie", "both_bad"])
def test_a_tie_or_both_bad_with_a_strength_is_stored_without_it(annotator_client, pairwise, choice):
    pairwise.strength_scale = 3
    pairwise.allow_both_bad = True
    pairwise.save()
    task = leased(annotator_client)

    response = judge(annotator_client, task["assignment"], {"choice": choice, "strength": 2})

    assert response.status_code == 201
    assert (Judgment.objects.get().choice, Judgment.objects.get().strength) == (choice, None)


# ---------------------------------------------------------------- renewing the lease


def renew(client, assignment_id: int):
    return client.post(f"/api/v1/assignments/{assignment_id}/renew/")


def test_renew_extends_a_live_lease_by_lease_seconds(annotator_client, pairwise):
    pairwise.lease_seconds = 60
    pairwise.save()
    task = leased(annotator_client)
    Assignment.objects.filter(pk=task["assignment"]).update(
        expires_at=timezone.now() + timedelta(seconds=5)
    )

    response = renew(annotator_client, task["assignment"])

    assert response.status_code == 200
    assert set(response.json()) == {"expires_at"}
    expires_at = Assignment.objects.get(pk=task["assignment"]).expires_at
    assert timedelta(seconds=55) < expires_at - timezone.now() <= timedelta(seconds=60)
    assert response.json()["expires_at"].startswith(expires_at.isoformat()[:19])


def test_a_renewed_lease_still_takes_the_judgment(annotator_client, pairwise):
    task = leased(annotator_client)

    renew(annotator_client, task["assignment"])

    assert judge(annotator_client, task["assignment"], {"choice": "left"}).status_code == 201


def test_renew_after_the_lease_lapsed_is_a_410(annotator_client, pairwise):
    task = leased(annotator_client)
    Assignment.objects.filter(pk=task["assignment"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = renew(annotator_client, task["assignment"])

    assert response.status_code == 410
    assert set(response.json()) == {"detail", "errors"}
    assert Assignment.objects.get(pk=task["assignment"]).expires_at < timezone.now()


def test_renew_of_a_judged_assignment_is_a_410(annotator_client, pairwise):
    task = leased(annotator_client)
    judge(annotator_client, task["assignment"], {"choice": "left"})

    assert renew(annotator_client, task["assignment"]).status_code == 410


def test_renew_of_someone_elses_assignment_is_a_403(annotator_client, pairwise, api_client_for):
    task = leased(api_client_for(AnnotatorUserFactory()))
    before = Assignment.objects.get(pk=task["assignment"]).expires_at

    response = renew(annotator_client, task["assignment"])

    assert response.status_code == 403
    assert Assignment.objects.get(pk=task["assignment"]).expires_at == before


def test_renew_of_an_unknown_assignment_is_a_404(annotator_client, pairwise):
    assert renew(annotator_client, 999_999).status_code == 404


def test_renew_needs_credentials(pairwise):
    assert renew(APIClient(), 1).status_code == 401


def test_renew_takes_a_fixed_number_of_queries(
    annotator_client, pairwise, django_assert_num_queries
):
    task = leased(annotator_client)

    with django_assert_num_queries(RENEW_QUERIES):
        assert renew(annotator_client, task["assignment"]).status_code == 200


# ---------------------------------------------------------------- skipping


def test_skipped_task_is_not_offered_again(annotator_client, pairwise):
    task = leased(annotator_client)

    response = annotator_client.post(f"/api/v1/assignments/{task['assignment']}/skip/")

    assert response.status_code == 204
    assert leased(annotator_client)["assignment"] != task["assignment"]
    assert Assignment.objects.get(pk=task["assignment"]).status == "skipped"


def test_judging_a_skipped_assignment_is_a_409(annotator_client, pairwise):
    task = leased(annotator_client)
    annotator_client.post(f"/api/v1/assignments/{task['assignment']}/skip/")

    response = judge(annotator_client, task["assignment"], {"choice": "left"})

    assert response.status_code == 409


def test_skipping_someone_elses_assignment_is_a_403(annotator_client, pairwise, api_client_for):
    task = leased(api_client_for(AnnotatorUserFactory()))

    response = annotator_client.post(f"/api/v1/assignments/{task['assignment']}/skip/")

    assert response.status_code == 403
    assert Assignment.objects.get(pk=task["assignment"]).status == "leased"


def test_annotator_record_is_made_on_first_call(annotator_client, annotator_user, pairwise):
    leased(annotator_client)

    assert annotator_for_user(user=annotator_user).assignments.count() == 1
