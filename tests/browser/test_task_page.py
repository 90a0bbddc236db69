"""The task page in a real browser: one vote per seen card, failures said and
nothing lost, leases that last while someone reads, forgiving forms, a session that ends,
shortcuts that can be turned off, a layout that keeps the buttons within reach.
Screenshots of every state go to artifacts/screenshots/ (light and dark, 390 and 1440 px)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from annotation.models import Annotator, Assignment, Judgment, Project
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from tests.browser.cards import shoot, sign_in, start, wait_armed, wait_for_next_card
from tests.factories import AnnotatorUserFactory, ProjectFactory, make_annotator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _rows(count: int, *, prefix: str = "q") -> list[tuple[int, dict]]:
    rows = [
        {
            "id": f"{prefix}{i}",
            "prompt": f"Question number {i}?",
            "responses": [
                {"id": "r1", "model": "alpha", "text": f"A careful answer to question {i}."},
                {"id": "r2", "model": "beta", "text": f"A **hasty** answer to question {i}."},
            ],
        }
        for i in range(count)
    ]
    return list(enumerate(rows, start=1))


def _project(slug: str = "page", items: int = 3, **settings) -> Project:
    fields = {
        "slug": slug,
        "name": "Task page study",
        "annotations_per_task": 1,
        "min_seconds_per_task": 0,
        "completion_code": "CODE-13",
        "instructions": "Pick the better answer.",
        **settings,
    }
    project = ProjectFactory(**fields)
    items_import(project=project, rows=_rows(items))
    return project


def _annotator_at_work(page, live_server, project: Project, username: str = "reader") -> None:
    AnnotatorUserFactory(username=username)
    sign_in(page, live_server.url, username)
    start(page, live_server.url, project.slug)


def _alert(page) -> str:
    page.wait_for_selector("#card-alert:not(:empty)")
    return page.inner_text("#card-alert")


def _in_view(page, selector: str) -> bool:
    return page.evaluate(
        "s => { const r = document.querySelector(s).getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }",
        selector,
    )


# ---------------------------------------------------------------- one vote per seen card


@pytest.mark.parametrize("gap_ms", [30, 150, 300])
def test_double_presses_over_ten_cards_store_exactly_ten_votes(live_server, page, gap_ms):
    project = _project(items=12, arming_ms=400)
    _annotator_at_work(page, live_server, project)
    posts: list[str] = []
    page.on(
        "request",
        lambda request: posts.append(request.url) if request.url.endswith("/judgment/") else None,
    )

    for _ in range(10):
        card = wait_armed(page)
        page.keyboard.press("1")
        page.wait_for_timeout(gap_ms)
        page.keyboard.press("1")  # lands on the same card in flight, or the next one unarmed
        wait_for_next_card(page, card)
    page.wait_for_timeout(800)

    assert Judgment.objects.filter(project=project).count() == 10
    assert len(posts) == 10
    assert page.url == f"{live_server.url}/annotate/page/task/"  # never submitted natively
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_a_key_on_a_card_just_shown_does_nothing_and_the_buttons_show_a_vote_in_flight(
    live_server, page, screenshot
):
    project = _project(arming_ms=1000)
    _annotator_at_work(page, live_server, project)
    first = page.get_attribute("#task-card", "data-assignment")
    page.keyboard.press("1")  # too soon: the card is not armed yet
    page.wait_for_timeout(300)
    assert page.get_attribute("#task-card", "data-assignment") == first
    assert not Judgment.objects.exists()

    wait_armed(page)
    page.route("**/judgment/", lambda route: page.wait_for_timeout(1500) or route.continue_())
    page.keyboard.press("1")
    page.wait_for_selector("#task-form[aria-busy=true] button.sending[aria-disabled=true]")
    assert page.inner_text("[data-sending]") == "Saving…"
    shoot(page, screenshot, "task-vote-in-flight")
    wait_for_next_card(page, first)
    assert Judgment.objects.count() == 1


# ---------------------------------------------------------------- visible failures

FAILURES = {
    "500": (
        500,
        "<!doctype html><title>Server Error (500)</title><h1>Server Error (500)</h1>",
        "The server had a problem (error 500)",
    ),
    "409": (
        409,
        '<div class="refusal" data-status="409"><p>This vote came 120 ms after the task '
        "appeared, before the 400 ms a task must be on screen, so it was not stored.</p></div>",
        "before the 400 ms a task must be on screen",
    ),
    "410": (
        410,
        '<div class="refusal" data-status="410"><p>The lease on this assignment has expired; '
        'the task went back to the pool.</p><p><a href="/annotate/page/task/">Go on to the next '
        "task</a></p></div>",
        "lease on this assignment has expired",
    ),
}


@pytest.mark.parametrize("failure", ["500", "409", "410", "offline"])
def test_a_failure_shows_an_alert_by_the_buttons_and_loses_nothing(
    live_server, page, screenshot, failure
):
    project = _project(strength_scale=3, rationale=Project.Rationale.OPTIONAL, arming_ms=0)
    page.set_viewport_size(PHONE)
    _annotator_at_work(page, live_server, project)
    card = wait_armed(page)
    page.fill("#rationale", "A is right and B is rude.")
    page.check("input[name=strength][value='2']")
    if failure == "offline":
        page.context.set_offline(True)
        expected = "the connection is down or was blocked"
    else:
        status, body, expected = FAILURES[failure]
        page.route(
            "**/judgment/",
            lambda route: route.fulfill(status=status, body=body, content_type="text/html"),
            times=1,
        )
    page.keyboard.press("1")

    assert expected in _alert(page)
    assert page.get_attribute("#card-alert", "role") == "alert"
    assert _in_view(page, "#card-alert")
    assert page.get_attribute("#task-card", "data-assignment") == card
    assert page.input_value("#rationale") == "A is right and B is rude."
    assert page.is_checked("input[name=strength][value='2']")
    assert page.get_attribute("#task-form", "aria-busy") is None  # the buttons work again
    assert not Judgment.objects.exists()
    shoot(page, screenshot, f"task-alert-{failure}")

    page.context.set_offline(False)
    page.click("#card-alert button.retry")
    wait_for_next_card(page, card)
    judgment = Judgment.objects.get()
    assert (judgment.rationale, judgment.strength) == ("A is right and B is rude.", 2)


def test_a_block_mid_session_replaces_the_card_with_its_message(live_server, page, screenshot):
    project = _project(arming_ms=0)
    _annotator_at_work(page, live_server, project)
    wait_armed(page)
    Annotator.objects.filter(user__username="reader").update(is_blocked=True)

    page.keyboard.press("1")

    page.wait_for_selector("#task-card.closed")
    assert "You can no longer work on this project" in page.inner_text("#task-card")
    assert page.locator("#task-form").count() == 0
    page.wait_for_function("() => document.activeElement.id === 'card-heading'")
    assert not Judgment.objects.exists()
    shoot(page, screenshot, "task-blocked")


def test_a_failed_quiz_replaces_the_card_with_the_quiz_message(live_server, page):
    project = _project(arming_ms=0, qualification_tasks=1, qualification_min_accuracy=1.0)
    gold = {
        "id": "gold",
        "prompt": "2 + 2?",
        "gold": {"preferred": "r1"},
        "responses": [
            {"id": "r1", "model": "m", "text": "4"},
            {"id": "r2", "model": "n", "text": "5"},
        ],
    }
    items_import(project=project, rows=[(1, gold)])
    _annotator_at_work(page, live_server, project)
    assignment = Assignment.objects.get(pk=wait_armed(page))
    assert assignment.task.is_gold
    page.keyboard.press("2" if assignment.left_response.external_id == "r1" else "1")  # wrong

    page.wait_for_selector("#task-card.closed")
    assert "qualification quiz" in page.inner_text("#task-card")


# ---------------------------------------------------------------- forgiving forms


def test_a_tie_after_picking_a_strength_is_stored_without_it(live_server, page):
    project = _project(strength_scale=3, arming_ms=0)
    _annotator_at_work(page, live_server, project)
    card = wait_armed(page)
    page.check("input[name=strength][value='3']")

    page.keyboard.press("t")

    wait_for_next_card(page, card)
    judgment = Judgment.objects.get()
    assert (judgment.choice, judgment.strength) == ("tie", None)


def test_a_preference_without_a_strength_says_so_and_keeps_the_rationale(
    live_server, page, screenshot
):
    project = _project(strength_scale=3, rationale=Project.Rationale.OPTIONAL, arming_ms=0)
    page.set_viewport_size(PHONE)
    _annotator_at_work(page, live_server, project)
    card = wait_armed(page)
    page.fill("#rationale", "Shorter and right.")
    page.locator("#rationale").blur()  # keys typed in the box are text, not shortcuts

    page.keyboard.press("1")

    assert "How much better? Choose one of the levels." in _alert(page)
    assert _in_view(page, "#card-alert")
    assert page.input_value("#rationale") == "Shorter and right."
    assert page.locator("#card-alert button.retry").count() == 0  # fix it, then vote
    shoot(page, screenshot, "task-validation")
    page.check("input[name=strength][value='1']")
    page.keyboard.press("1")
    wait_for_next_card(page, card)
    assert Judgment.objects.get().rationale == "Shorter and right."


# ---------------------------------------------------------------- leases and sessions


def test_a_ten_second_lease_survives_forty_seconds_of_reading(live_server, page, screenshot):
    project = _project(items=1, lease_seconds=10, arming_ms=0)
    _annotator_at_work(page, live_server, project)
    card = wait_armed(page)
    assignment = Assignment.objects.get(pk=card)

    page.wait_for_timeout(40_000)  # reading, without touching anything

    assert Assignment.objects.get(pk=assignment.pk).expires_at > timezone.now()
    assert assignment_lease(project=project, annotator=make_annotator()) is None  # still ours
    assert page.is_visible("[data-lease-timer]")  # under two minutes: the time left shows
    assert page.inner_text("[data-lease-left]") in {f"0:{s:02d}" for s in range(1, 11)}
    shoot(page, screenshot, "task-time-left")
    page.keyboard.press("2")
    page.wait_for_selector(".done")
    assert Judgment.objects.filter(assignment=assignment).count() == 1


def test_a_long_lease_shows_no_countdown(live_server, page):
    project = _project(items=1, lease_seconds=900, arming_ms=0)
    _annotator_at_work(page, live_server, project)
    wait_armed(page)
    page.wait_for_timeout(1500)

    assert not page.is_visible("[data-lease-timer]")


def test_a_lapsed_lease_is_said_with_a_way_on(live_server, page, screenshot):
    project = _project(items=2, lease_seconds=60, arming_ms=0)
    _annotator_at_work(page, live_server, project)
    card = wait_armed(page)
    Assignment.objects.filter(pk=card).update(expires_at=timezone.now() - timedelta(seconds=1))

    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # back in view

    assert "Your time on this task ran out" in _alert(page)
    assert page.get_attribute("#task-card", "data-assignment") == card
    assert not page.is_visible("[data-lease-timer]")  # no time left shown beside "ran out"
    shoot(page, screenshot, "task-lease-lapsed")
    page.click("#card-alert a")
    page.wait_for_selector("#task-card[data-assignment]")


def test_an_expired_session_signs_in_again_and_comes_back_to_the_project(live_server, page):
    project = _project(arming_ms=0)
    _annotator_at_work(page, live_server, project)
    wait_armed(page)
    Session.objects.all().delete()

    page.keyboard.press("1")

    page.wait_for_url(f"{live_server.url}/accounts/login/?next=/annotate/page/")
    assert page.locator("#task-card").count() == 0  # the whole page, not inside the card
    page.fill("#id_username", "reader")
    page.fill("#id_password", "pw")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/annotate/page/**")
    page.wait_for_selector("#task-card")  # consent is kept: straight back to work
    assert not Judgment.objects.exists()


# ---------------------------------------------------------------- shortcuts setting


def test_shortcuts_can_be_turned_off_and_stay_off_after_a_reload(live_server, page, screenshot):
    project = _project(arming_ms=0)
    _annotator_at_work(page, live_server, project)
    assert page.is_checked("#shortcuts-toggle")
    with page.expect_response("**/settings/shortcuts/"):
        page.uncheck("#shortcuts-toggle")

    page.reload()
    card = wait_armed(page)
    assert not page.is_checked("#shortcuts-toggle")
    assert not page.is_visible(".keys-help")
    page.keyboard.press("1")
    page.keyboard.press("s")
    page.wait_for_timeout(700)
    assert page.get_attribute("#task-card", "data-assignment") == card
    assert not Judgment.objects.exists()
    shoot(page, screenshot, "task-shortcuts-off")

    page.click("button:has-text('A is better')")  # the buttons still work
    wait_for_next_card(page, card)
    assert Judgment.objects.count() == 1
    assert Annotator.objects.get(user__username="reader").shortcuts_enabled is False


# ---------------------------------------------------------------- layout


def _long_conversation_project() -> Project:
    project = ProjectFactory(
        slug="chat", name="Long chats", annotations_per_task=1, arming_ms=0, min_seconds_per_task=0
    )
    paragraph = "This sentence is here to make the turn long enough to need scrolling. " * 18
    turns = []
    for i in range(8):
        role = "user" if i % 2 == 0 else "assistant"
        turns.append({"role": role, "content": f"Turn {i + 1}. {paragraph}"})
    turns.append({"role": "user", "content": "So, which of you explains it best?"})
    answer = "\n\n".join(f"Paragraph {p}. {paragraph}" for p in range(6))
    rows = [
        {
            "id": f"c{i}",
            "prompt": turns,
            "responses": [
                {"model": "alpha", "text": answer},
                {"model": "beta", "text": answer.replace("This", "That")},
            ],
        }
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def test_an_eight_turn_conversation_at_390_px_keeps_the_buttons_within_reach(
    live_server, page, screenshot
):
    project = _long_conversation_project()
    page.set_viewport_size(PHONE)
    _annotator_at_work(page, live_server, project)
    card = wait_armed(page)

    assert not page.evaluate("document.querySelector('details.earlier-turns').open")
    assert "Show earlier turns (8)" in page.inner_text("#task-card")
    assert page.is_visible("text=So, which of you explains it best?")
    bottom = page.evaluate(
        "() => { const r = document.querySelector('#task-form .actions').getBoundingClientRect();"
        " return r.bottom + window.scrollY; }"
    )
    assert bottom < 10_000
    assert page.evaluate("document.documentElement.scrollHeight") < 10_000
    shoot(page, screenshot, "task-long-conversation")

    page.click("summary:has-text('Show earlier turns')")
    assert page.is_visible("text=Turn 1.")
    page.locator("#task-form .actions").scroll_into_view_if_needed()
    page.keyboard.press("1")
    wait_for_next_card(page, card)
    # The next card starts at its top, focus on its heading, the prompt in view.
    page.wait_for_function("() => document.activeElement.id === 'card-heading'")
    assert _in_view(page, "#card-heading")
    assert _in_view(page, ".conversation")


def test_long_boxes_scroll_inside_and_can_be_reached_by_keyboard_on_a_desktop(live_server, page):
    project = _long_conversation_project()
    _annotator_at_work(page, live_server, project)
    wait_armed(page)

    assert page.evaluate("document.querySelector('details.earlier-turns').open")
    for box in (".conversation", "#task-form .response .scroll >> nth=0"):
        locator = page.locator(box)
        assert locator.evaluate("e => e.scrollHeight > e.clientHeight")  # scrolls inside
        assert locator.get_attribute("tabindex") == "0"
    page.focus(".conversation")
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.querySelector('.conversation').scrollTop > 0")
    bottom = page.evaluate(
        "document.querySelector('#task-form .actions').getBoundingClientRect().bottom"
        " + window.scrollY"
    )
    assert bottom < 2_500


# ---------------------------------------------------------------- small things


def test_the_completion_code_can_be_copied(live_server, page, screenshot):
    project = _project(items=1, arming_ms=0)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _annotator_at_work(page, live_server, project)
    wait_armed(page)
    page.keyboard.press("1")
    page.wait_for_selector(".completion-code")
    page.wait_for_function("() => document.activeElement.id === 'card-heading'")

    page.click("button:has-text('Copy code')")

    page.wait_for_selector("text=Copied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == "CODE-13"
    shoot(page, screenshot, "done-copied")


def test_an_empty_response_says_so(live_server, page):
    project = ProjectFactory(slug="blank", annotations_per_task=1, arming_ms=0)
    row = {
        "id": "b",
        "prompt": "Say something.",
        "responses": [{"model": "m", "text": "Something."}, {"model": "n", "text": " "}],
    }
    items_import(project=project, rows=[(1, row)])
    _annotator_at_work(page, live_server, project)

    assert page.locator(".response .empty").inner_text() == "(empty response)"


def test_the_favicon_answers(live_server, page):
    response = page.goto(f"{live_server.url}/favicon.ico")

    assert response.ok
    assert response.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(part) for part in css[css.index("(") + 1 : -1].split(",")[:3])


def _contrast(one: str, other: str) -> float:
    def luminance(rgb: tuple[float, ...]) -> float:
        linear = [c / 3294.6 if c <= 10.0164 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(_rgb(one)), luminance(_rgb(other))), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_control_borders_and_the_focus_ring_stand_out_at_3_to_1(live_server, page, scheme):
    project = _project(strength_scale=3, rationale=Project.Rationale.OPTIONAL, arming_ms=0)
    page.emulate_media(color_scheme=scheme)
    _annotator_at_work(page, live_server, project)
    style = "(e, p) => getComputedStyle(e)[p]"
    background = page.locator("body").evaluate(style, "backgroundColor")
    card = page.locator(".criterion").first.evaluate(style, "backgroundColor")

    for control in ("button.choice >> nth=0", "#rationale", "input[name=reason]"):
        border = page.locator(control).evaluate(style, "borderTopColor")
        assert _contrast(border, background) >= 3, (control, border, background)
    page.focus("button.choice >> nth=0")
    page.keyboard.press("Tab")  # a keyboard focus: the ring shows
    focused = page.locator(":focus")
    ring = focused.evaluate(style, "outlineColor")
    assert focused.evaluate(style, "outlineStyle") == "solid"
    assert _contrast(ring, background) >= 3 and _contrast(ring, card) >= 3


def test_a_crowd_worker_s_page_renews_its_lease_too(live_server, page):
    project = _project(items=1, lease_seconds=10, arming_ms=0)
    page.goto(
        f"{live_server.url}/annotate/{project.slug}/"
        "?PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4&STUDY_ID=st1&SESSION_ID=se1"
    )
    page.click("text=Start the study")
    page.click("text=I agree, start")
    assignment = Assignment.objects.get(pk=wait_armed(page))
    assert assignment.annotator.is_crowd

    with page.expect_response("**/renew/") as renewal:
        pass
    assert renewal.value.status == 200
    assert Assignment.objects.get(pk=assignment.pk).expires_at > assignment.expires_at
