import re

from annotation.rendering import media_hosts_for, render_markdown


def test_script_tags_are_shown_as_text_not_run():
    html = render_markdown('Hello <script>alert("x")</script>')
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_code_blocks_and_tables_render():
    html = render_markdown("```python\nprint(1)\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert '<code class="language-python">' in html
    assert "<table>" in html and "<td>1</td>" in html


def test_javascript_links_are_dropped():
    html = render_markdown("[click](javascript:alert(1)) <a href='javascript:alert(2)'>x</a>")
    assert "<a " not in html


def test_links_get_safe_rel():
    html = render_markdown("[docs](https://example.org)")
    assert 'rel="noopener noreferrer nofollow"' in html


def test_empty_response_renders_empty():
    assert render_markdown("") == ""


HOSTS = ("example.org",)


def test_a_link_to_a_sound_is_shown_as_an_audio_player():
    html = render_markdown("https://example.org/clip.mp3", media_hosts=HOSTS)
    assert '<audio controls="" preload="metadata" src="https://example.org/clip.mp3">' in html


def test_a_link_to_a_video_is_shown_as_a_video_player():
    assert "<video" in render_markdown("https://example.org/v/clip.webm?t=3", media_hosts=HOSTS)


def test_a_link_to_an_image_is_shown_as_an_image():
    assert '<img src="https://example.org/cat.png"' in render_markdown(
        "https://example.org/cat.png", media_hosts=HOSTS
    )


def test_media_urls_cannot_smuggle_attributes():
    html = render_markdown('https://example.org/a.mp3"onerror="alert(1)')
    assert re.search(r"<[^>]*onerror", html) is None


def test_an_image_on_the_site_itself_is_a_link_never_fetched():
    html = render_markdown("![x](/annotate/p/?PROLIFIC_PID=5f0c0a0b0c0d0e0f10111213)")
    assert "<img" not in html
    assert '<a href="/annotate/p/?PROLIFIC_PID=5f0c0a0b0c0d0e0f10111213"' in html


def test_an_image_from_an_unlisted_host_is_a_link_not_a_tracking_pixel():
    html = render_markdown("![pixel](https://tracker.example.net/p.gif)", media_hosts=HOSTS)
    assert "<img" not in html
    assert "https://tracker.example.net/p.gif" in html


def test_a_bare_media_link_from_an_unlisted_host_is_not_played():
    html = render_markdown("https://tracker.example.net/clip.mp3", media_hosts=HOSTS)
    assert "<audio" not in html


def test_an_image_from_a_listed_host_or_subdomain_is_shown():
    assert '<img src="https://cdn.example.org/a.png" alt="a cat">' in render_markdown(
        "![a cat](https://cdn.example.org/a.png)", media_hosts=("*.example.org",)
    )


def test_a_host_with_a_port_matches_that_port_only():
    hosts = ("media.example.org:8443",)
    assert "<img" in render_markdown(
        "![x](https://media.example.org:8443/a.png)", media_hosts=hosts
    )
    assert "<img" not in render_markdown("![x](https://media.example.org/a.png)", media_hosts=hosts)


def test_media_hosts_setting_is_added_to_the_projects(settings):
    settings.MEDIA_HOSTS = ["Global.example.com"]
    assert media_hosts_for(["cdn.example.org"]) == ("global.example.com", "cdn.example.org")
