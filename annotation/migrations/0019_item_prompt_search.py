"""A GIN index for the data explorer's search of prompts (PostgreSQL only: SQLite searches
by substring). It is built on the very expression annotation.selectors.explorer.PromptVector
writes, so the planner uses it."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS item_prompt_search_idx ON annotation_item "
    "USING gin (to_tsvector('simple'::regconfig, prompt))"
)
DROP = "DROP INDEX IF EXISTS item_prompt_search_idx"


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("annotation", "0018_importjob_content_lz4")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
