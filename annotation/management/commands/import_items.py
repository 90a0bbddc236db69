from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.errors import ImportRejected
from annotation.models import Project
from annotation.services.importing import filetype_from_name, items_import


class Command(BaseCommand):
    help = "Import items from a JSONL, JSON or CSV file into a project (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_slug")
        parser.add_argument("file", type=Path)

    def handle(self, *args, project_slug: str, file: Path, **options) -> None:
        project = Project.objects.filter(slug=project_slug).first()
        if project is None:
            raise CommandError(f"No project {project_slug!r}.")
        if not file.is_file():
            raise CommandError(f"No file {str(file)!r}.")
        try:
            result = items_import(
                project=project, content=file.read_bytes(), filetype=filetype_from_name(file.name)
            )
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(f"{file}:{error['line']}: {error['error']}")
            raise CommandError(f"{exc.detail} {len(exc.errors)} bad line(s).") from exc
        self.stdout.write(self.style.SUCCESS(result.summary()))
