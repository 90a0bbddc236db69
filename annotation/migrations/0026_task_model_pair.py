"""Task.model_pair (the two model names of a pair, sorted) and the index active sampling
scans: the queue narrowed to one pair. Existing pairs are filled from their responses."""

from django.db import migrations, models


def fill_model_pairs(apps, schema_editor) -> None:
    """In one statement, sorted by code point as annotation.models.model_pair_key sorts in
    Python (UTF-8 byte order is code point order: COLLATE "C" on PostgreSQL, SQLite's
    default BINARY), joined by its separator."""
    binary = ' COLLATE "C"' if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        "UPDATE annotation_task SET model_pair = CASE "
        f"WHEN ra.model{binary} <= rb.model{binary} THEN ra.model || %s || rb.model "
        "ELSE rb.model || %s || ra.model END "
        "FROM annotation_response ra, annotation_response rb "
        "WHERE ra.id = annotation_task.response_a_id AND rb.id = annotation_task.response_b_id",
        ["\x1f", "\x1f"],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0025_project_sampling"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="model_pair",
            field=models.CharField(
                blank=True,
                default="",
                help_text="A pair's two model names, sorted (model_pair_key); empty for one "
                "response.",
                max_length=401,
            ),
        ),
        migrations.RunPython(fill_model_pairs, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["project", "is_gold", "model_pair", "-judgment_count", "id"],
                name="task_pair_queue_idx",
            ),
        ),
    ]
