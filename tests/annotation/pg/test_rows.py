"""Hand-written SQL on the hot paths gives the same model instances as the ORM."""

from __future__ import annotations

from django.db import connection

from annotation.models import Item, Task
from annotation.pg.rows import field_from_db, model_from_row, model_select
from tests.factories import ProjectFactory, import_items


def fetch_row(model, pk: int):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_select(model, 'x')} FROM {model._meta.db_table} x WHERE x.id = %s",
            [pk],
        )
        return cursor.fetchone()


def test_a_row_becomes_the_instance_the_orm_would_load(db):
    project = ProjectFactory()
    import_items(project, 1)
    item = Item.objects.get(project=project)
    item.metadata = {"source": "hh", "tags": ["a", "b"]}
    item.save()

    loaded = model_from_row(Item, fetch_row(Item, item.pk))

    orm = Item.objects.get(pk=item.pk)
    assert loaded.prompt == orm.prompt
    assert loaded.metadata == {"source": "hh", "tags": ["a", "b"]}
    assert loaded.created_at == orm.created_at
    assert loaded.created_at.tzinfo is not None
    assert loaded._state.adding is False


def test_one_column_is_converted_like_the_orm(db):
    project = ProjectFactory()
    import_items(project, 1)
    task = Task.objects.get(project=project)
    row = fetch_row(Task, task.pk)
    created_index = [f.attname for f in Task._meta.concrete_fields].index("created_at")

    assert field_from_db(Task, "created_at", row[created_index]) == task.created_at
