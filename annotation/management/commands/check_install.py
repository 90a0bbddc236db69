from django.core.management.base import BaseCommand, CommandError

from ops.install import install_findings, render


class Command(BaseCommand):
    help = (
        "Report the settings that matter and whether the database and Redis answer; "
        "exit 1 when something is wrong."
    )

    def handle(self, *args, **options) -> None:
        findings = install_findings()
        self.stdout.write(render(findings))
        if any(finding.status == "error" for finding in findings):
            raise CommandError("the installation has problems (marked ERROR above)")
