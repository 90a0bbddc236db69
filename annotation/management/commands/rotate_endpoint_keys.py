from django.core.management.base import BaseCommand, CommandError

from annotation.secret_box import SecretUnreadable
from annotation.services.endpoints import endpoint_keys_rotate


class Command(BaseCommand):
    help = (
        "Seal every model endpoint's API key again under the first secret of "
        "ENDPOINT_KEYS_SECRET, so the older secrets can then be dropped."
    )

    def handle(self, *args, **options) -> None:
        try:
            count = endpoint_keys_rotate()
        except SecretUnreadable as exc:
            raise CommandError(f"{exc}: set its api_key again, then rerun.") from exc
        self.stdout.write(f"{count} endpoint API keys sealed under the current secret.")
