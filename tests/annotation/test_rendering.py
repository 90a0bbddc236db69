import re

from annotation.rendering import render_markdown


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


def test_a_link_to_a_sound_is_shown_as_an_audio_player():
    html = render_markdown("https://example.org/clip.mp3")
    assert '<audio controls="" preload="metadata" src="https://example.org/clip.mp3">' in html


def test_a_link_to_a_video_is_shown_as_a_video_player():
    assert "<video" in render_markdown("https://example.org/v/clip.webm?t=3")


def test_a_link_to_an_image_is_shown_as_an_image():
    assert '<img src="https://example.org/cat.png"' in render_markdown(
        "https://example.org/cat.png"
    )


def test_media_urls_cannot_smuggle_attributes():
    html = render_markdown('https://example.org/a.mp3"onerror="alert(1)')
    assert re.search(r"<[^>]*onerror", html) is None
