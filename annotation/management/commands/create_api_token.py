from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.errors import NotFound
from annotation.services.tokens import api_token_create


class Command(BaseCommand):
    help = "Print a new API token for the user (replacing any earlier one), alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        try:
            key = api_token_create(username=username)
        except NotFound as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"API token for {username} (send it as 'Authorization: Token <key>'):")
        self.stdout.write(key)
