"""The console's survey builder (README, Researchers, "Survey"): the questions edited as a
form (add, reorder, delete, a preset), saved through the service the API's PATCH calls with
its checks and its versioning, and the pre-survey previewed as annotators see it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Project, SurveyAnswers
from annotation.presets import PRISM_DEMOGRAPHICS
from annotation.services.researchers import researcher_create
from tests.factories import ProjectFactory, profiled_annotators

pytestmark = pytest.mark.django_db

AGE = {
    "key": "age_band",
    "text": "How old are you?",
    "type": "single",
    "options": ["18-34", "35+"],
    "required": True,
    "sensitive": False,
    "when": "pre",
}
CLARITY = {
    "key": "clarity",
    "text": "How clear were the instructions?",
    "type": "scale",
    "options": ["Unclear", "Neutral", "Clear"],
    "required": False,
    "sensitive": False,
    "when": "post",
}
COUNTRY = {
    "key": "country",
    "text": "In which country do you live?",
    "type": "text",
    "options": [],
    "required": True,
    "sensitive": True,
    "when": "pre",
}


@pytest.fixture
def surveyed(lead) -> Project:
    return ProjectFactory(owner=lead, slug="surveyed", survey=[AGE, CLARITY])


def page_url(project: Project) -> str:
    return reverse("admin:annotation_project_survey", args=[project.pk])


def preview_url(project: Project) -> str:
    return reverse("admin:annotation_project_survey_preview", args=[project.pk])


def form_of(questions: list[dict[str, Any]], **extra: str) -> dict[str, str]:
    """The builder's form as a browser posts it (an unticked box is absent)."""
    form = {"count": str(len(questions))}
    for n, q in enumerate(questions):
        form |= {
            f"q-{n}-key": q["key"],
            f"q-{n}-text": q["text"],
            f"q-{n}-type": q["type"],
            f"q-{n}-options": "\n".join(q["options"]),
            f"q-{n}-when": q["when"],
        }
        form |= {f"q-{n}-{flag}": "on" for flag in ("required", "sensitive") if q[flag]}
    return form | extra


def keys_shown(html: str, count: int) -> list[str]:
    return [html.split(f'name="q-{n}-key" value="', 1)[1].split('"', 1)[0] for n in range(count)]


def test_the_project_page_links_to_the_survey_builder(console, surveyed):
    project_page = console.get(reverse("admin:annotation_project_change", args=[surveyed.pk]))
    assert page_url(surveyed) in project_page.content.decode()


def test_the_builder_lists_the_saved_questions_with_their_settings(console, surveyed):
    html = console.get(page_url(surveyed)).content.decode()

    assert keys_shown(html, 2) == ["age_band", "clarity"]
    assert "How clear were the instructions?" in html
    assert '<option value="scale" selected>' in html
    assert '<option value="post" selected>' in html
    assert "18-34\n35+</textarea>" in html
    assert 'name="q-0-required" checked' in html
    assert 'name="q-1-required" checked' not in html
    assert "Survey version <strong>1</strong>: 0 annotators answered it." in html


def test_adding_a_question_without_javascript_redraws_the_page_and_stores_nothing(
    console, surveyed
):
    response = console.post(page_url(surveyed), form_of([AGE, CLARITY], action="add"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert keys_shown(html, 3) == ["age_band", "clarity", ""]
    assert 'id="q-2-key" name="q-2-key" value=""' in html
    assert "This draft is not saved yet." in html
    surveyed.refresh_from_db()
    assert [q["key"] for q in surveyed.survey] == ["age_band", "clarity"]


def test_htmx_gets_only_the_editor_with_the_new_question_focused_and_announced(console, surveyed):
    response = console.post(
        page_url(surveyed), form_of([AGE, CLARITY], action="add"), HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="survey-editor"')
    new_key = html.split('id="q-2-key"', 1)[1].split(">", 1)[0]
    assert "autofocus" in new_key
    assert 'hx-swap-oob="true">Question 3 added: type its key.</p>' in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_moving_a_question_down_keeps_the_focus_on_its_button(console, lead):
    project = ProjectFactory(owner=lead, survey=[AGE, CLARITY, COUNTRY])

    html = console.post(
        page_url(project), form_of([AGE, CLARITY, COUNTRY], action="down-0"), HTTP_HX_REQUEST="1"
    ).content.decode()

    assert keys_shown(html, 3) == ["clarity", "age_band", "country"]
    assert 'id="down-1" hx-post' in html
    assert "autofocus" in html.split('id="down-1"', 1)[1].split(">", 1)[0]
    assert "age_band moved down to position 2." in html


def test_a_question_moved_to_the_top_keeps_the_focus_on_its_down_button(console, lead):
    project = ProjectFactory(owner=lead, survey=[AGE, CLARITY])

    html = console.post(
        page_url(project), form_of([AGE, CLARITY], action="up-1"), HTTP_HX_REQUEST="1"
    ).content.decode()

    assert keys_shown(html, 2) == ["clarity", "age_band"]
    assert "disabled" in html.split('id="up-0"', 1)[1].split(">", 1)[0]
    assert "autofocus" in html.split('id="down-0"', 1)[1].split(">", 1)[0]


def test_deleting_a_question_leaves_the_others_in_order(console, lead):
    project = ProjectFactory(owner=lead, survey=[AGE, CLARITY, COUNTRY])

    html = console.post(
        page_url(project), form_of([AGE, CLARITY, COUNTRY], action="delete-1")
    ).content.decode()

    assert keys_shown(html, 2) == ["age_band", "country"]
    assert 'name="count" value="2"' in html
    assert "clarity deleted (not saved)." in html
    project.refresh_from_db()
    assert len(project.survey) == 3


def test_a_preset_replaces_the_draft_and_is_saved_only_with_save(console, surveyed):
    html = console.post(
        page_url(surveyed), form_of([AGE], action="preset", preset="prism-demographics")
    ).content.decode()

    assert keys_shown(html, 6) == [q["key"] for q in PRISM_DEMOGRAPHICS]
    surveyed.refresh_from_db()
    assert [q["key"] for q in surveyed.survey] == ["age_band", "clarity"]


def test_a_preset_comes_in_the_projects_language(console, surveyed):
    surveyed.ui_language = "ar"
    surveyed.save(update_fields=["ui_language"])
    html = console.post(
        page_url(surveyed), form_of([AGE], action="preset", preset="prism-demographics")
    ).content.decode()

    assert "كم عمرك؟" in html and "أفضّل عدم الإجابة" in html
    assert "How old are you?" not in html


def test_saving_stores_the_questions_in_their_order_as_the_api_would(console, surveyed):
    response = console.post(page_url(surveyed), form_of([COUNTRY, CLARITY, AGE], action="save"))

    assert response.status_code == 302
    surveyed.refresh_from_db()
    assert surveyed.survey == [COUNTRY, CLARITY, AGE]
    assert surveyed.survey_version == 1
    page = console.get(response["Location"]).content.decode()
    assert "Survey saved. No one has answered version 1 yet, so it stays version 1." in page


def test_saving_after_annotators_answered_starts_a_new_version_and_keeps_their_answers(
    console, surveyed
):
    (annotator,) = profiled_annotators(surveyed, {"h0": {"age_band": "35+"}})

    response = console.post(page_url(surveyed), form_of([AGE, COUNTRY], action="save"))

    surveyed.refresh_from_db()
    assert surveyed.survey_version == 2
    answers = SurveyAnswers.objects.get(annotator=annotator)
    assert (answers.version, answers.answers) == (1, {"age_band": "35+"})
    page = console.get(response["Location"]).content.decode()
    assert "Survey saved as version 2. Annotators had answered version 1" in page
    assert "Survey version <strong>2</strong>: 0 annotators answered it." in page


def test_saving_unchanged_questions_keeps_the_version_and_says_so(console, surveyed):
    profiled_annotators(surveyed, {"h0": {"age_band": "35+"}})

    response = console.post(page_url(surveyed), form_of([AGE, CLARITY], action="save"))

    surveyed.refresh_from_db()
    assert surveyed.survey_version == 1
    page = console.get(response["Location"]).content.decode()
    assert "Nothing changed: the survey is still version 1." in page


def test_problems_are_shown_beside_their_fields_and_nothing_is_saved(console, surveyed):
    bad_options = {**AGE, "options": ["only one"]}
    text_with_options = {**COUNTRY, "key": "Country!", "options": ["UK", "US"]}

    response = console.post(
        page_url(surveyed), form_of([bad_options, text_with_options], action="save")
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="q-0-options-error">a single question needs two or more options<' in html
    assert 'id="q-1-options-error">a text question takes no options<' in html
    assert 'id="q-1-key-error">must be lower-case letters, digits and _<' in html
    assert 'aria-invalid="true" aria-describedby="q-1-key-error"' in html
    # What was typed stays in the form.
    assert 'value="Country!"' in html and "UK\nUS</textarea>" in html
    surveyed.refresh_from_db()
    assert surveyed.survey == [AGE, CLARITY]


def test_a_duplicate_key_is_named_on_the_second_question(console, surveyed):
    html = console.post(
        page_url(surveyed), form_of([AGE, {**CLARITY, "key": "age_band"}], action="save")
    ).content.decode()

    assert 'id="q-1-key-error">duplicate key &#x27;age_band&#x27;<' in html


def test_removing_a_question_a_group_quota_needs_is_refused_at_the_top(console, lead):
    project = ProjectFactory(
        owner=lead,
        survey=[AGE, COUNTRY],
        group_quotas={"country": {"max_share": 0.5, "places": 10}},
    )

    response = console.post(page_url(project), form_of([AGE], action="save"))

    assert response.status_code == 400
    assert "group_quotas.country: no such survey question" in response.content.decode()
    project.refresh_from_db()
    assert [q["key"] for q in project.survey] == ["age_band", "country"]


def test_a_refused_save_through_htmx_is_swapped_in_with_the_errors(console, surveyed):
    response = console.post(
        page_url(surveyed),
        form_of([{**AGE, "text": ""}], action="save"),
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200  # htmx swaps 2xx answers only
    assert 'id="q-0-text-error">required: the question as asked<' in response.content.decode()


def test_another_researcher_gets_404_and_changes_nothing(surveyed):
    other = Client()
    other.force_login(researcher_create(username="other"))

    assert other.get(page_url(surveyed)).status_code == 404
    assert other.get(preview_url(surveyed)).status_code == 404
    saved = other.post(page_url(surveyed), form_of([COUNTRY], action="save"))
    assert saved.status_code == 404
    surveyed.refresh_from_db()
    assert surveyed.survey == [AGE, CLARITY]


def test_a_post_without_the_csrf_token_is_refused(lead, surveyed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)

    response = client.post(page_url(surveyed), form_of([COUNTRY], action="save"))

    assert response.status_code == 403
    surveyed.refresh_from_db()
    assert surveyed.survey == [AGE, CLARITY]


def test_the_page_takes_the_same_queries_for_two_questions_or_sixty(console, lead):
    few = ProjectFactory(owner=lead, survey=[AGE, CLARITY])
    many_questions = [{**AGE, "key": f"q{n}", "required": False} for n in range(60)]
    many = ProjectFactory(owner=lead, survey=many_questions)
    profiled_annotators(many, {f"h{n}": {"q0": "35+"} for n in range(5)})

    counts = []
    for project in (few, many):
        with CaptureQueriesContext(connection) as queries:
            assert console.get(page_url(project)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_preview_is_the_annotators_pre_survey_page_framed_by_the_console(console, surveyed):
    response = console.get(preview_url(surveyed))

    html = response.content.decode()
    assert response.status_code == 200
    assert response.templates[0].name == "annotation/survey.html"
    assert "How old are you?" in html
    assert "How clear were the instructions?" not in html  # a post-survey question
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]


def test_the_preview_is_in_the_projects_language_as_annotators_first_see_it(console, lead):
    project = ProjectFactory(owner=lead, survey=[AGE], ui_language="ar")

    html = console.get(preview_url(project)).content.decode()

    assert '<html lang="ar" dir="rtl">' in html
    assert "عنك" in html  # "About you"
    assert "Survey of" in console.get(page_url(project)).content.decode()  # the console: English


def test_the_preview_of_a_draft_shows_the_draft_questions(console, surveyed):
    html = console.post(preview_url(surveyed), form_of([COUNTRY])).content.decode()

    assert "In which country do you live?" in html
    assert "How old are you?" not in html


def test_the_preview_of_a_survey_without_pre_questions_says_annotators_go_to_the_tasks(
    console, lead
):
    project = ProjectFactory(owner=lead, survey=[CLARITY])

    html = console.get(preview_url(project)).content.decode()

    assert "annotators go from consent straight to the first task" in html
    assert "How clear were the instructions?" not in html


def test_other_console_pages_still_refuse_to_be_framed(console, surveyed):
    response = console.get(page_url(surveyed))

    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_a_researcher_who_may_only_read_sees_the_survey_and_cannot_change_it(surveyed):
    reader = get_user_model().objects.create_user(username="reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_project"))
    surveyed.researchers.add(reader)
    client = Client()
    client.force_login(reader)

    page = client.get(page_url(surveyed)).content.decode()
    refused = client.post(page_url(surveyed), form_of([COUNTRY], action="save"))

    assert keys_shown(page, 2) == ["age_band", "clarity"]
    assert '<fieldset class="survey-form-controls" disabled>' in page
    assert refused.status_code == 403
    surveyed.refresh_from_db()
    assert surveyed.survey == [AGE, CLARITY]
