"""Celery work is queued by task name from annotation/scheduling.py: the services and the API
never import the tasks module (which imports the services), and every name is a real task
routed to the queue of its kind."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from annotation import scheduling
from config.celery import app
from tests.processes import ROOT, run_python
from tests.sources import lines_where


def _imports_the_tasks(node: ast.AST, path: Path) -> bool:
    """An import of annotation.tasks, at module level or inside a function."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = ".".join(path.relative_to(ROOT).parts[:-1])
            parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{parent}.{base}" if base else parent
        names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
    else:
        return False
    return scheduling.TASK_MODULE in names


def test_no_module_but_the_tasks_own_imports_the_tasks():
    tasks_own = ROOT / "annotation" / "tasks.py"
    assert lines_where(_imports_the_tasks, skip=lambda path: path == tasks_own) == {}


PROBE = """
import json, sys
import django
django.setup()
import importlib, pkgutil
import annotation.services, api.views
for package in (annotation.services, api.views):
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
import api.urls
from celery import current_app
from celery.app.task import Task
from annotation import scheduling

sent, ran = [], []
current_app.send_task = lambda name, args=None, kwargs=None, **options: sent.append(
    [name, list(args)]
)
Task.apply = lambda self, args=None, kwargs=None, **options: ran.append([self.name, list(args)])
loaded = "annotation.tasks" in sys.modules
current_app.conf.task_always_eager = False
scheduling.schedule_snapshot_build(5)
scheduling.schedule_report_refresh(7, countdown=30, retry=False)
after_broker = "annotation.tasks" in sys.modules
current_app.conf.task_always_eager = True
import logging
marker = logging.NullHandler()
logging.getLogger().addHandler(marker)
scheduling.schedule_import_job_run(9)
print(json.dumps({
    "logging_kept": marker in logging.getLogger().handlers,
    "loaded": loaded, "after_broker": after_broker, "sent": sent, "ran": ran,
    "after_eager": "annotation.tasks" in sys.modules,
}))
"""


def test_the_services_and_api_queue_work_by_name_without_loading_the_tasks():
    result = run_python("-c", PROBE, DJANGO_SETTINGS_MODULE="config.settings")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["loaded"] is False  # importing every service and API view
    assert seen["after_broker"] is False  # publishing to a broker goes by name
    assert seen["sent"] == [[scheduling.SNAPSHOT_BUILD, [5]], [scheduling.REPORT_REFRESH, [7]]]
    # Without a broker the task runs here, as .delay() would: the tasks are loaded for it.
    assert seen["ran"] == [[scheduling.IMPORT_JOB_RUN, [9]]]
    assert seen["after_eager"] is True
    # Loading them does not set Django up again: the process's logging (pytest's capture,
    # a handler added at run time) is left as it was.
    assert seen["logging_kept"] is True


@pytest.mark.parametrize("name", scheduling.TASK_NAMES)
def test_every_task_scheduling_names_is_registered_and_routed_by_kind(name):
    app.loader.import_default_modules()
    assert name in app.tasks
    queue = app.amqp.router.route({}, name)["queue"].name
    assert queue in {"reports", "snapshots", "imports", "webhooks", "arena", "judges"}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_refresh_queued_by_name_lands_on_the_reports_queue_of_the_broker():
    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(settings.REDIS_URL)
    before = broker.llen("reports")
    scheduling.schedule_report_refresh(987654, countdown=30, retry=False)
    assert broker.llen("reports") == before + 1
    message = json.loads(broker.lindex("reports", 0))
    assert message["headers"]["task"] == scheduling.REPORT_REFRESH
    broker.lpop("reports")
    broker.close()
