"""docker-compose.yml describes the real stack: no Docker engine runs here, so its shape is
checked as data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
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


APP_SERVICES = ("web", "worker", "beat")


def _mount_of(service: dict, target: str) -> str | None:
    """The named volume a service mounts at target, if any."""
    for volume in service.get("volumes", ()):
        source, _, path = volume.partition(":")
        if path.split(":")[0] == target:
            return source
    return None


def test_snapshot_files_written_by_the_worker_are_there_for_web_to_serve():
    # The worker builds snapshot N into its MEDIA_ROOT and web streams the download from its
    # own: two container filesystems would answer "the file of snapshot N is gone".
    compose = _compose()
    services = compose["services"]
    media_roots = {name: services[name]["environment"]["MEDIA_ROOT"] for name in ("web", "worker")}
    assert media_roots["web"] == media_roots["worker"]
    web_volume = _mount_of(services["web"], media_roots["web"])
    assert web_volume is not None
    assert web_volume == _mount_of(services["worker"], media_roots["worker"])
    assert web_volume in compose["volumes"]


def test_database_and_redis_keep_their_data_in_named_volumes():
    compose = _compose()
    services = compose["services"]
    assert _mount_of(services["db"], "/var/lib/postgresql/data") in compose["volumes"]
    assert _mount_of(services["redis"], "/data") in compose["volumes"]


def test_every_service_restarts_unless_stopped():
    services = _compose()["services"]
    assert {name: service.get("restart") for name, service in services.items()} == {
        name: "unless-stopped" for name in services
    }


def test_health_checks_use_only_what_the_images_have():
    services = _compose()["services"]
    web = " ".join(services["web"]["healthcheck"]["test"])
    assert "python" in web and "urllib" in web and "/readyz" in web
    assert "celery -A config inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    beat = " ".join(services["beat"]["healthcheck"]["test"])
    assert "python" in beat and "celerybeat-schedule" in beat
    # python:3.11-slim has neither procps nor curl.
    for name in APP_SERVICES:
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "pgrep" not in test and "curl" not in test


def test_web_gives_long_imports_time_and_the_worker_takes_every_queue():
    services = _compose()["services"]
    command = services["web"]["command"]
    timeout = int(command.split("--timeout")[1].split()[0])
    assert timeout >= 120
    assert "-Q" not in services["worker"]["command"].split()


def test_no_secret_key_is_written_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    values = [line.split(":", 1)[1].strip() for line in text.splitlines() if "SECRET_KEY:" in line]
    assert values and all(value.startswith("${SECRET_KEY:?") for value in values), values


def _docker_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose(), reason="docker compose is not installed here")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SECRET_KEY": "a-key-for-this-test-only"},
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["web"]["restart"] == "unless-stopped"
    web_media = [v for v in services["web"]["volumes"] if v["target"] == "/app/media"]
    worker_media = [v for v in services["worker"]["volumes"] if v["target"] == "/app/media"]
    assert web_media[0]["source"] == worker_media[0]["source"]
