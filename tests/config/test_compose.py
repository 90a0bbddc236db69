"""docker-compose.yml describes the real stack: no Docker engine runs here, so its shape is
checked as data."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_stack_has_its_five_services_each_with_a_health_check():
    services = _compose()["services"]
    assert set(services) == {"db", "redis", "web", "worker", "beat"}
    assert all("healthcheck" in service for service in services.values())


def test_app_services_use_postgres_and_redis_and_wait_for_them():
    services = _compose()["services"]
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"].startswith("redis://")
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "celery -A config worker" in services["worker"]["command"]
    assert "celery -A config beat" in services["beat"]["command"]
    assert "gunicorn config.wsgi" in services["web"]["command"]


def test_the_image_installs_the_project_and_collects_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "collectstatic" in dockerfile


def test_the_secret_key_comes_from_the_environment_never_a_fixed_value():
    services = _compose()["services"]
    for name in ("web", "worker", "beat"):
        key = services[name]["environment"]["SECRET_KEY"]
        assert key.startswith("${SECRET_KEY:?"), key
    assert "SECRET_KEY=build-only" not in (ROOT / "Dockerfile").read_text()
