"""The `researcher` group, with exactly the permissions the console needs, and who blocked an
annotator in a project (the stored reason is a note for researchers, never shown to the
annotator).

The permissions are a frozen copy of annotation.services.researchers.RESEARCHER_PERMISSIONS
as of this migration: `create_researcher` and `demo` bring the group up to date with the
service's list whenever they run."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

RESEARCHER_GROUP = "researcher"
RESEARCHER_PERMISSIONS = {
    "project": ("view", "add", "change", "delete"),
    "criterion": ("view", "add", "change", "delete"),
    "item": ("view", "add", "change", "delete"),
    "response": ("view", "add", "change", "delete"),
    "task": ("view", "change", "delete"),
    "assignment": ("view",),
    "judgment": ("view",),
    "annotatorstats": ("view", "change"),
    "annotator": ("view",),
    "crowdsession": ("view",),
}


def create_researcher_group(apps, schema_editor):
    # Permissions are normally made after migrate (post_migrate): make this app's now.
    app_config = apps.get_app_config("annotation")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    codenames = [
        f"{action}_{model}"
        for model, actions in RESEARCHER_PERMISSIONS.items()
        for action in actions
    ]
    db = schema_editor.connection.alias
    group, _ = Group.objects.using(db).get_or_create(name=RESEARCHER_GROUP)
    group.permissions.set(
        Permission.objects.using(db).filter(
            content_type__app_label="annotation", codename__in=codenames
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0009_crowd_identity"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="annotatorstats",
            name="blocked_by",
            field=models.ForeignKey(
                blank=True,
                help_text="The researcher who blocked them (empty: the qualification quiz, "
                "or unknown).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="annotatorstats",
            name="blocked_reason",
            field=models.CharField(
                blank=True,
                help_text="A note for researchers; never shown to the annotator.",
                max_length=300,
            ),
        ),
        migrations.RunPython(create_researcher_group, migrations.RunPython.noop),
    ]
