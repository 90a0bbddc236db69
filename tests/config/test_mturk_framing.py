"""MTURK_FRAMING: the session and CSRF cookies a worker needs inside MTurk's cross-site
frame (SameSite=None, so Secure, so HTTPS); off by default (README, crowd entry)."""

from __future__ import annotations

from tests.config.test_settings import PRODUCTION_KEY, _manage

COOKIES = (
    "from django.conf import settings;"
    "print(settings.SESSION_COOKIE_SAMESITE, settings.CSRF_COOKIE_SAMESITE,"
    " settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"
)


def test_cookies_stay_samesite_lax_by_default():
    result = _manage("shell", "-c", COOKIES, SECRET_KEY=PRODUCTION_KEY, HTTPS="true")

    assert result.stdout.split()[-4:] == ["Lax", "Lax", "True", "True"], result.stderr


def test_mturk_framing_sends_secure_samesite_none_cookies():
    result = _manage(
        "shell", "-c", COOKIES, SECRET_KEY=PRODUCTION_KEY, HTTPS="true", MTURK_FRAMING="true"
    )

    assert result.stdout.split()[-4:] == ["None", "None", "True", "True"], result.stderr


def test_mturk_framing_without_https_does_not_start():
    result = _manage("check", DEBUG="true", MTURK_FRAMING="true")

    assert result.returncode != 0
    assert "MTURK_FRAMING needs HTTPS=true" in result.stderr


def test_mturk_framing_passes_the_deploy_check():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        HTTPS="true",
        MTURK_FRAMING="true",
        SECRET_KEY=PRODUCTION_KEY,
        ALLOWED_HOSTS="prefs.example.org",
    )

    assert result.returncode == 0, result.stdout + result.stderr
