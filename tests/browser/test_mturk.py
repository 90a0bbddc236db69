"""MTurk in a real browser (README "Annotator pages"): the HIT preview shows a sample task; a HIT in
ExternalQuestion mode runs inside MTurk's frame, from preview to externalSubmit; any other
site is refused the frame."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from annotation.models import CrowdSession, Judgment, Project
from annotation.services.importing import items_import
from tests.browser.conftest import CHROMIUM
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SANDBOX = "https://workersandbox.mturk.com"
HIT_PAGE = f"{SANDBOX}/projects/3HITID/tasks"
WORKER = "workerId=A1B2C3D4E5F6G7&assignmentId=3ASSIGN&hitId=3HITID"
TURK_SUBMIT_TO = "turkSubmitTo=https%3A%2F%2Fworkersandbox.mturk.com"
PREVIEW = "assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=3HITID"


def _project() -> Project:
    project = ProjectFactory(
        slug="hit",
        name="Which answer is better?",
        instructions="Read both answers, then pick the **more helpful** one.",
        annotations_per_task=1,
        completion_code="MTURK-OK-7",
        arming_ms=0,
        min_seconds_per_task=0,
    )
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"How do I boil an egg? ({i})",
            "responses": [
                {"id": "r1", "model": "secret-alpha", "text": "Simmer it for *nine* minutes."},
                {"id": "r2", "model": "secret-beta", "text": "Microwave it whole."},
            ],
        }
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


@pytest.fixture
def framing_context(browser, live_server, settings, tmp_path):
    """A Chromium that lets a page standing in for MTurk's sandbox (https, answered by
    Playwright) frame the live server (http on localhost): mixed content and the local
    network allowed, and third-party cookies allowed as in a default Chrome profile
    (Playwright's own contexts block them, like a private window). The cookies are those
    of MTURK_FRAMING with HTTPS (SameSite=None; Secure, which localhost may set)."""
    settings.SESSION_COOKIE_SAMESITE = settings.CSRF_COOKIE_SAMESITE = "None"
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(
        json.dumps({"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}})
    )
    context = browser.browser_type.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        viewport={"width": 1440, "height": 1000},
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--allow-running-insecure-content",
            "--disable-features=BlockInsecurePrivateNetworkRequests,"
            "PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,"
            "LocalNetworkAccessChecks",
        ],
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _wait_until(page, condition, seconds: float = 10) -> None:
    """Let the page run until `condition()` holds (console messages arrive as it runs)."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)


def _hit_page(route, frame_url: str) -> None:
    route.fulfill(
        content_type="text/html",
        body=(
            "<!doctype html><title>MTurk sandbox</title><h1>HIT</h1>"
            f'<iframe id="hit" src="{frame_url}" width="1300" height="850"></iframe>'
        ),
    )


def test_a_hit_runs_inside_mturks_frame_and_submits_the_assignment(
    live_server, framing_context, screenshot
):
    _project()
    entry = f"{live_server.url}/annotate/hit/"
    page = framing_context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.route(HIT_PAGE, lambda route: _hit_page(route, f"{entry}?{PREVIEW}"))
    submitted: list[dict[str, list[str]]] = []

    def external_submit(route) -> None:
        submitted.append(parse_qs(route.request.post_data or ""))
        route.fulfill(content_type="text/html", body="<p>HIT submitted</p>")

    page.route(f"{SANDBOX}/mturk/externalSubmit", external_submit)

    # The preview, before the worker accepts the HIT: a sample task, nothing to sign in to.
    page.goto(HIT_PAGE)
    hit = page.frame_locator("#hit")
    hit.get_by_text("Simmer it for").wait_for()
    assert hit.locator("form").count() == 0
    assert "secret-alpha" not in hit.locator("main").inner_text()
    screenshot(page, "mturk-framed-preview-1440")
    assert not CrowdSession.objects.exists()

    # Accepted: MTurk loads the frame again with the assignment and where to submit it.
    page.evaluate(
        "url => { document.getElementById('hit').src = url; }",
        f"{entry}?{WORKER}&{TURK_SUBMIT_TO}",
    )
    hit.get_by_role("button", name="Start the study").click()
    hit.get_by_role("button", name="I agree, start").click()
    for _ in range(2):
        card = hit.locator("#task-card[data-assignment]")
        previous = card.get_attribute("data-assignment")
        hit.locator("#task-card button[value=left]").click()
        hit.locator(f"#task-card:not([data-assignment='{previous}'])").wait_for()
    submit = hit.get_by_role("button", name="Submit the HIT")
    submit.wait_for()
    assert "MTURK-OK-7" in hit.locator("#task-card").inner_text()
    screenshot(page, "mturk-framed-done-1440")

    submit.click()
    page.frame_locator("#hit").get_by_text("HIT submitted").wait_for()

    assert submitted == [
        {"assignmentId": ["3ASSIGN"], "completion_code": ["MTURK-OK-7"], "answered": ["2"]}
    ]
    assert Judgment.objects.count() == 2
    visit = CrowdSession.objects.get()
    assert (visit.submit_to, visit.outcome) == (SANDBOX, CrowdSession.Outcome.COMPLETED)
    assert violations == []


def test_mturks_frame_never_shows_the_sign_in_page(live_server, framing_context):
    page = framing_context.new_page()
    page.route(HIT_PAGE, lambda route: _hit_page(route, f"{live_server.url}/accounts/login/"))
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame-ancestors" in m.text else None)

    page.goto(HIT_PAGE)
    _wait_until(page, lambda: refused)

    assert any("'none'" in message for message in refused), refused
    assert page.frame_locator("#hit").locator("#id_password").count() == 0


@pytest.fixture
def other_site() -> Iterator[Callable[[str], str]]:
    """A tiny server on another site (127.0.0.1, where the live server is localhost) that
    frames whatever address it is given."""
    framed: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f'<!doctype html><iframe id="hit" src="{framed["url"]}"></iframe>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def frame(url: str) -> str:
        framed["url"] = url
        return f"http://127.0.0.1:{server.server_port}/"

    yield frame
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/annotate/hit/?" + PREVIEW, "/accounts/login/"])
def test_another_site_cannot_frame_any_page(live_server, browser, other_site, path):
    _project()
    context = browser.new_context()
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame-ancestors" in m.text else None)
    try:
        page.goto(other_site(live_server.url + path))
        _wait_until(page, lambda: refused)

        assert refused, "the frame was not refused"
        frame = page.frame_locator("#hit")
        assert frame.get_by_text("Simmer it for").count() == 0
        assert frame.locator("#id_password").count() == 0
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1440])
def test_the_preview_shows_a_sample_task_at_every_width(
    live_server, page, screenshot, width, scheme
):
    _project()
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)

    page.goto(f"{live_server.url}/annotate/hit/?{PREVIEW}")

    main = page.locator("main")
    assert "Accept the HIT" in main.inner_text()
    assert "Simmer it for" in main.inner_text() and "Microwave it whole" in main.inner_text()
    assert "secret-alpha" not in page.content()
    assert page.locator("main form").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"mturk-preview-{width}-{scheme}")
    assert _serious(page) == []


def _serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
