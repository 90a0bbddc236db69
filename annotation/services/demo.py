"""The demo: a researcher and two small projects, so a newcomer can vote at once. Their
items are JSONL files in annotation/fixtures/demo/ (shipped in the package), imported as
any researcher's file would be."""

from __future__ import annotations

from importlib.resources import files

from django.db import transaction

from annotation.models import Project
from annotation.presets import HELPSTEER2_CRITERIA
from annotation.services.importing import items_import
from annotation.services.projects import project_create
from annotation.services.researchers import researcher_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"

PAIRWISE_INSTRUCTIONS = """\
You will see a prompt and two responses, **A** and **B**, written by AI assistants.

Pick the response that is **more helpful, correct and clear** for the person who asked.
Choose *Tie* when both are equally good (or equally bad).

Keys: `1` / `A` for A, `2` / `B` for B, `3` / `T` for a tie, `S` to skip.
"""

RUBRIC_INSTRUCTIONS = """\
Rate one response at a time on five attributes, each from 0 to 4
(after NVIDIA's HelpSteer2 guidelines):

- **Helpfulness**: how useful the response is overall.
- **Correctness**: are all the facts right, with nothing important missing?
- **Coherence**: is it clear and logically consistent?
- **Complexity**: how much expertise would it take to write it?
- **Verbosity**: how long is it compared with what the prompt asked for?
"""


PROJECTS = [
    {
        "slug": "demo-pairwise",
        "name": "Demo: which answer is better?",
        "kind": Project.Kind.PAIRWISE,
        "instructions": PAIRWISE_INSTRUCTIONS,
        "annotations_per_task": 3,
        "strength_scale": 3,
        "rationale": Project.Rationale.OPTIONAL,
        "completion_code": "DEMO-THANKS",
        "criteria": [],
        "items": "pairwise.jsonl",
    },
    {
        "slug": "demo-rubric",
        "name": "Demo: rate the answer (HelpSteer2 rubric)",
        "kind": Project.Kind.RUBRIC,
        "instructions": RUBRIC_INSTRUCTIONS,
        "annotations_per_task": 2,
        "completion_code": "DEMO-RATED",
        "criteria": HELPSTEER2_CRITERIA,
        "items": "rubric.jsonl",
    },
]


def demo_items(name: str) -> bytes:
    """A demo fixture's content: items written for the demo (harmless, varied, short enough
    to read in a minute) in the import format."""
    return files("annotation").joinpath("fixtures", "demo", name).read_bytes()


@transaction.atomic
def demo_create() -> list[Project]:
    """Create (or bring up to date) the demo researcher and projects; safe to run again.
    The researcher is made like any other (staff, in the researcher group, not a
    superuser), so the demo shows the console a researcher gets."""
    researcher = researcher_create(username=DEMO_USERNAME)
    # The demo's well-known password skips the validators on purpose: demo sites only.
    researcher.set_password(DEMO_PASSWORD)
    researcher.save(update_fields=["password"])
    projects = []
    for spec in PROJECTS:
        spec = dict(spec)
        items = spec.pop("items")
        criteria = spec.pop("criteria")
        project = Project.objects.filter(slug=spec["slug"]).first()
        if project is None:
            project = project_create(owner=researcher, criteria=criteria, **spec)
        elif project.owner_id != researcher.pk:
            project.researchers.add(researcher)  # the demo researcher manages its projects
        items_import(project=project, content=demo_items(items), filetype="jsonl")
        projects.append(project)
    return projects
