"""The Celery app. Without REDIS_URL, settings make every task run eagerly in-process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("prefpanel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request ids ride along in task headers and are bound for the task's log lines.
import ops.request_log  # noqa: E402, F401
