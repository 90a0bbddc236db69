from django.core.management.base import BaseCommand

from annotation.services.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_create


class Command(BaseCommand):
    help = "Create the demo researcher and a pairwise and a rubric project (idempotent)."

    def handle(self, *args, **options) -> None:
        projects = demo_create()
        for project in projects:
            self.stdout.write(f"  {project.name}: {project.items.count()} items")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready. Sign in at http://127.0.0.1:8000/ as {DEMO_USERNAME} / "
                f"{DEMO_PASSWORD} (researcher console at /admin/), or create an annotator "
                "account at /accounts/signup/."
            )
        )
