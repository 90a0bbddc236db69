import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.errors import ValidationFailed
from annotation.services.researchers import RESEARCHER_GROUP, researcher_create


class Command(BaseCommand):
    help = (
        f"Make (or update) a researcher: a staff member of the '{RESEARCHER_GROUP}' group, "
        "who can use the whole console for their own projects (not a superuser)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", help="Checked by the password validators.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Never prompt: without --password a new account gets no usable password.",
        )

    def handle(
        self,
        *args,
        username: str,
        password: str | None,
        email: str,
        interactive: bool = True,
        **options,
    ) -> None:
        if password is None and interactive and sys.stdin.isatty():
            password = self._prompt_password(username, email)
        try:
            user = researcher_create(username=username, password=password, email=email)
        except ValidationFailed as exc:
            lines = [f"  {e['field'] or 'username'}: {e['error']}" for e in exc.errors]
            raise CommandError("\n".join([exc.detail, *lines])) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{user.get_username()} is a researcher (staff, '{RESEARCHER_GROUP}' group)."
            )
        )
        if not user.has_usable_password():
            self.stdout.write(
                f"No password is set, so {username} cannot sign in yet: run "
                f"`python manage.py changepassword {username}` or pass --password."
            )

    def _prompt_password(self, username: str, email: str) -> str | None:
        """Ask twice, as createsuperuser does, until the validators accept it; an empty
        answer sets no password."""
        from django.contrib.auth import get_user_model

        candidate = get_user_model()(username=username, email=email)
        while True:
            try:
                password = getpass.getpass("Password (empty: none): ")
                if not password:
                    return None
                if getpass.getpass("Password (again): ") != password:
                    self.stderr.write("Error: your passwords didn't match.")
                    continue
                validate_password(password, user=candidate)
            except ValidationError as exc:
                self.stderr.write("\n".join(exc.messages))
                continue
            except KeyboardInterrupt as exc:
                raise CommandError("Cancelled: nothing was changed.") from exc
            return password
