"""The data explorer on a 20,000-item pairwise project (5 judgments a task, 200 annotators):
the prompt search with and without its GIN index (migration 0019), and the explorer's page
and item page under filters, each timed through Django's test client (median and best of
the runs: the machine is shared).

Runs in the database given by --database (created when missing, never dropped; its project
`bench-explorer` is deleted and rebuilt), because this script is run by an engineer who owns
one database only.

    .venv/bin/python bench/bench_explorer.py [--items 20000] [--runs 5] [--database NAME]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from importlib import import_module
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import database_url, median, ms, server_versions, timer

WORDS = [
    "photosynthesis",
    "volcano",
    "tide",
    "glacier",
    "comet",
    "rainbow",
    "river",
    "mountain",
    "desert",
    "forest",
    "ocean",
    "planet",
    "galaxy",
    "atom",
    "molecule",
    "protein",
    "enzyme",
    "battery",
    "engine",
    "bridge",
    "castle",
    "poem",
    "novel",
    "recipe",
    "bread",
    "cheese",
    "coffee",
    "garden",
    "insect",
    "bird",
    "whale",
]


def setup(name: str) -> None:
    """Create the database when missing (never drop it) and migrate it. DEBUG is on, unlike
    the other benchmarks, so the admin's pages render without a collectstatic manifest;
    the test client's requests are timed, not a server's."""
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        DATABASE_URL=database_url(name), DEBUG="true", DJANGO_SETTINGS_MODULE="config.settings"
    )
    os.environ.pop("REDIS_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build(n_items: int):
    from django.contrib.auth import get_user_model

    from annotation.models import Annotator, Judgment, Project, Task
    from annotation.services.importing import items_import
    from annotation.services.researchers import researcher_create
    from bench._fixtures import bulk_load, execute, insert_select
    from bench._harness import vacuum_analyze

    # The index as the migration defines it now, filled by the import below.
    execute("DROP INDEX IF EXISTS item_prompt_search_idx")
    execute(import_module("annotation.migrations.0019_item_prompt_search").CREATE)
    Project.objects.filter(slug="bench-explorer").delete()
    get_user_model().objects.filter(username="bench-explorer").delete()
    lead = researcher_create(username="bench-explorer")
    project = Project.objects.create(slug="bench-explorer", name="Bench explorer", owner=lead)
    rng = random.Random(7)
    rows = [
        {
            "id": f"q{i}",
            "prompt": " ".join(rng.choice(WORDS) for _ in range(40)) + f" (item {i})",
            "metadata": {"source": rng.choice(("hh", "shp", "arena"))},
            "responses": [
                {"id": "r1", "model": f"m{i % 12}", "text": f"Answer one to {i}."},
                {"id": "r2", "model": f"m{(i + 5) % 12}", "text": f"Answer two to {i}."},
            ],
        }
        for i in range(n_items)
    ]
    with timer() as took:
        items_import(project=project, rows=list(enumerate(rows, start=1)))
    print(f"items_import of {n_items} items: {took[0]:.1f} s")
    Annotator.objects.filter(external_id__startswith="bench-explorer-").delete()
    Annotator.objects.bulk_create(
        Annotator(source=Annotator.Source.IMPORT, external_id=f"bench-explorer-{k}")
        for k in range(200)
    )
    first = Annotator.objects.filter(external_id="bench-explorer-0").values_list("pk", flat=True)[0]
    with bulk_load():
        n = insert_select(
            Judgment,
            values={
                "project_id": str(project.pk),
                "task_id": "t.id",
                "annotator_id": f"{first} + ((t.id * 7 + k * 41) %% 200)",
                "choice": "(ARRAY['a','b','a','tie','b','a'])"
                "[1 + ((t.id * 7 + k * k * 3 + t.id / 7) %% 6)]",
                "source": "'import'",
            },
            source="FROM annotation_task t CROSS JOIN generate_series(0, 4) k "
            "WHERE t.project_id = %s",
            params=[project.pk],
        )
    Task.objects.filter(project=project).update(judgment_count=5)
    vacuum_analyze("annotation_item", "annotation_task", "annotation_judgment")
    print(f"{n} judgments by 200 annotators")
    return project, lead


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", default="prefpanel_explorer")
    args = parser.parse_args()
    setup(args.database)
    from django.test import Client

    from annotation.models import Item
    from annotation.selectors.explorer import ExplorerFilters, explorer_task_ids
    from bench._fixtures import execute, explain

    print(server_versions())
    project, lead = build(args.items)
    client = Client()
    client.force_login(lead)
    base = f"/admin/annotation/project/{project.pk}/explorer/"

    def timed(label: str, address: str, params: dict) -> None:
        times = []
        for _ in range(args.runs):
            with timer() as took:
                response = client.get(address, params)
            assert response.status_code == 200, response.status_code
            times.append(took[0])
        print(f"{label:55s} median {ms(median(times))}, best {ms(min(times))}")

    search = ExplorerFilters(search='"item 12345"')
    sql, params = explorer_task_ids(project=project, filters=search).query.sql_with_params()
    plan = explain(f"SELECT count(*) FROM ({sql}) s", params)
    print("the count of a one-item search uses the GIN index:", "item_prompt_search_idx" in plan)
    create = import_module("annotation.migrations.0019_item_prompt_search").CREATE
    # The index as migration 0019 made it and the import filled it, then rebuilt in one go
    # (no GIN pending list), then none.
    for state in ("as imported", "rebuilt", "none"):
        if state != "as imported":
            execute("DROP INDEX IF EXISTS item_prompt_search_idx")
        if state == "rebuilt":
            execute(create)
        for words in ("glacier castle", '"item 12345"'):
            timed(f"explorer, search {words} (index: {state})", base, {"q": words})
    execute(create)
    timed("explorer, no filter, page 1", base, {})
    timed("explorer, no filter, page 200", base, {"page": "200"})
    timed("explorer, model=m3 and source=hh", base, {"model": "m3", "meta": "source=hh"})
    timed("explorer, majority share 0.5 to 0.7", base, {"share_min": "0.5", "share_max": "0.7"})
    timed("explorer, split votes only", base, {"split": "on"})
    item = Item.objects.filter(project=project).order_by("pk")[args.items // 2]
    timed("item page (1 task, 5 judgments)", f"{base}items/{item.pk}/", {})


if __name__ == "__main__":
    main()
