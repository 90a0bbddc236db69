from django.core.management.base import BaseCommand

from annotation.services.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_create


class Command(BaseCommand):
    help = "Create the demo researcher and a pairwise and a rubric project (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/",
            help="Where the site is served, for the sign-in line (scripts/demo passes it).",
        )

    def handle(self, *args, **options) -> None:
        projects = demo_create()
        for project in projects:
            self.stdout.write(f"  {project.name}: {project.items.count()} items")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready. Sign in at {options['url']} as {DEMO_USERNAME} / "
                f"{DEMO_PASSWORD} (researcher console at /admin/), or create an annotator "
                "account at /accounts/signup/."
            )
        )
