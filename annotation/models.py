"""The domain: projects, their items and responses, the tasks made from them, annotators,
their leases (assignments) and their judgments.

Invariants that must hold even when two processes race live in the database as
constraints, not only in Python.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from annotation.licenses import OTHER, spdx_license_id
from annotation.spans import SpansInvalid, span_labels_check
from annotation.surveys import group_quota_errors, validate_survey


class CurrentTransactionId(models.Func):
    """The writing transaction's id on PostgreSQL (NULL elsewhere): a column default that
    lets incremental sync hand out each row exactly once, in commit-safe order."""

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra_context):  # type: ignore[override]
        return "(pg_current_xact_id()::text::bigint)", []


HOST_NAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$"
)


def validate_license(value: str) -> None:
    if value and value != OTHER and spdx_license_id(value) is None:
        raise ValidationError(
            f"{value!r} is not an SPDX license id (see spdx.org/licenses); use 'other' "
            "and a license name for any other license"
        )


_LICENSE_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]*")


def validate_license_name(value: str) -> None:
    if value and not _LICENSE_NAME.fullmatch(value):
        raise ValidationError("use lowercase letters, digits, '.' and '-' (e.g. my-license-1.0)")


def validate_host_list(value: object) -> None:
    """A list of host names (`cdn.example.org`, `*.example.org`, with a port if needed)."""
    if not isinstance(value, list) or not all(
        isinstance(host, str) and HOST_NAME.match(host) for host in value
    ):
        raise ValidationError(
            'Enter a list of host names, such as ["cdn.example.org", "*.example.org"].'
        )


#: At most this many seed prompts, each at most MAX_ARENA_PROMPT characters.
MAX_SEED_PROMPTS = 200
MAX_ARENA_PROMPT = 10_000


def validate_seed_prompts(value: object) -> None:
    """A list of non-empty prompts an arena annotator may pick instead of writing one."""
    if not isinstance(value, list) or len(value) > MAX_SEED_PROMPTS:
        raise ValidationError(f"Enter a list of at most {MAX_SEED_PROMPTS} prompts (strings).")
    for prompt in value:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValidationError("Each seed prompt must be a non-empty string.")
        if len(prompt) > MAX_ARENA_PROMPT:
            raise ValidationError(f"A seed prompt has at most {MAX_ARENA_PROMPT} characters.")


#: Languages the annotator pages are translated into (README "Annotator pages").
UI_LANGUAGES = (
    ("en", "English"),
    ("fr", "Français"),
    ("es", "Español"),
    ("de", "Deutsch"),
    ("zh-hans", "简体中文"),
    ("ar", "العربية"),
)


def _new_pseudonym() -> str:
    return "ann-" + secrets.token_hex(6)


#: The most terms a project's prompt blocklist holds, and the longest term.
BLOCKLIST_MAX_TERMS = 1000
BLOCKLIST_MAX_TERM_LENGTH = 200


def validate_prompt_blocklist(value: object) -> None:
    """A list of distinct non-empty terms (words or phrases) of at most 200 characters."""
    if not isinstance(value, list) or not all(
        isinstance(term, str) and term.strip() and len(term) <= BLOCKLIST_MAX_TERM_LENGTH
        for term in value
    ):
        raise ValidationError(
            "Enter a list of terms (non-empty texts of at most "
            f'{BLOCKLIST_MAX_TERM_LENGTH} characters), such as ["term", "a phrase"].'
        )
    if len(value) > BLOCKLIST_MAX_TERMS:
        raise ValidationError(f"At most {BLOCKLIST_MAX_TERMS} terms.")


class Project(models.Model):
    class Kind(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise comparison"
        RUBRIC = "rubric", "Rubric rating"
        RANKING = "ranking", "Listwise ranking"
        ARENA = "arena", "Arena (live models, annotator-written prompts)"

    class Rationale(models.TextChoices):
        OFF = "off", "Off"
        OPTIONAL = "optional", "Optional"
        REQUIRED = "required", "Required"

    class Rewrite(models.TextChoices):
        OFF = "off", "Off"
        OPTIONAL = "optional", "Optional"
        REQUIRED = "required", "Required"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    class Access(models.TextChoices):
        OPEN = "open", "Open to every annotator"
        MEMBERS = "members", "Members only"

    class Sampling(models.TextChoices):
        UNIFORM = "uniform", "Uniform (queue order)"
        ACTIVE = "active", "Active (pairs that narrow the leaderboard most)"

    class Route(models.TextChoices):
        OFF = "off", "Off (every task gets annotations_per_task human judgments)"
        UNCERTAIN = "uncertain", "Uncertain tasks to people first, the rest spot-checked"

    STRENGTH_SCALES = ((0, "No strength"), (3, "1 = slightly better … 3 = much better"))

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PAIRWISE)
    instructions = models.TextField(blank=True, help_text="Markdown, shown before the first task.")
    annotations_per_task = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    lease_seconds = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(10), MaxValueValidator(86400)]
    )
    allow_tie = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=False)
    strength_scale = models.PositiveSmallIntegerField(choices=STRENGTH_SCALES, default=0)
    rationale = models.CharField(max_length=10, choices=Rationale.choices, default=Rationale.OFF)
    rewrite = models.CharField(
        max_length=10,
        choices=Rewrite.choices,
        default=Rewrite.OFF,
        help_text="Whether annotators may (or must) rewrite a response judged not good enough.",
    )
    gold_rate = models.FloatField(
        default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    max_tasks_per_annotator = models.PositiveIntegerField(null=True, blank=True)
    qualification_tasks = models.PositiveSmallIntegerField(
        default=0,
        help_text="Gold tasks every annotator answers first, as a qualification quiz (0: none).",
    )
    qualification_min_accuracy = models.FloatField(
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the quiz to answer right; below it the annotator is stopped.",
    )
    min_seconds_per_task = models.FloatField(
        default=3.0,
        validators=[MinValueValidator(0.0)],
        help_text="Votes faster than this get a gentle warning and count as too fast.",
    )
    flag_min_judgments = models.PositiveIntegerField(
        default=10, help_text="An annotator is judged for flags only after this many votes."
    )
    flag_fast_share = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Flag 'too_fast' when more than this share of votes are under the minimum.",
    )
    flag_side_rate = models.FloatField(
        default=0.9,
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text="Flag 'one_side' when the left (or right) side wins at least this often.",
    )
    flag_min_gold_accuracy = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Flag 'low_gold_accuracy' below this share of gold answered right.",
    )
    completion_code = models.CharField(max_length=100, blank=True)
    completion_url = models.URLField(max_length=500, blank=True)
    completion_min_answers = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Answered tasks (skips do not count) a crowd worker needs for the completion "
        "code; empty: the quota when one is set, else 1.",
    )
    screenout_code = models.CharField(
        max_length=100,
        blank=True,
        help_text="Shown to a crowd worker who ends without enough answered tasks.",
    )
    screenout_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where such a worker is sent instead (Prolific's screen-out link).",
    )
    prolific_study_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="When set, Prolific entries must carry this STUDY_ID.",
    )
    crowd_new_per_hour = models.PositiveIntegerField(
        default=20,
        help_text="New crowd identities one client address may start per hour in this project.",
    )
    media_hosts = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_host_list],
        help_text="Hosts whose images, sounds and videos responses may show (besides the "
        "MEDIA_HOSTS setting); media elsewhere is shown as a link, never fetched.",
    )
    arming_ms = models.PositiveIntegerField(
        default=400,
        validators=[MaxValueValidator(10_000)],
        help_text="A task card takes a vote only after it has been on screen this long (ms), "
        "so a double key press never votes on a card nobody saw.",
    )
    consent_text = models.TextField(
        blank=True,
        help_text="Markdown shown before the first task and agreed to; empty: the default text. "
        "A change after someone consented starts a new consent version.",
    )
    consent_version = models.PositiveIntegerField(
        default=1, help_text="Bumped when the consent text changes after someone consented."
    )
    survey = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_survey],
        help_text='Survey questions (README "Surveys"): a list of {key, text, type, options, '
        "required, sensitive, when}; pre questions follow consent, post ones end the work.",
    )
    survey_version = models.PositiveIntegerField(
        default=1, help_text="Bumped when the survey questions change after someone answered."
    )
    group_quotas = models.JSONField(
        default=dict,
        blank=True,
        help_text='Crowd quotas by survey answer (README "Group quotas"): survey key to '
        '{"max": {option: n}} or {"max_share": 0.5, "places": n}; an annotator whose group '
        "is full gets no first task.",
    )
    ui_language = models.CharField(
        max_length=10,
        blank=True,
        choices=UI_LANGUAGES,
        help_text="The annotator pages' language; empty: each annotator's browser language.",
    )
    content_language = models.CharField(
        max_length=35,
        blank=True,
        help_text="The language of prompts and responses (a BCP 47 tag such as en, ar, zh-Hans); "
        "empty: unknown (their direction is then found from the text).",
    )
    license = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_license],
        help_text="The license of the exported data, for dataset cards: an SPDX id (cc-by-4.0, "
        "mit, odc-by-1.0, ...), or 'other' with a license name; empty: not decided yet.",
    )
    license_name = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_license_name],
        help_text="With license 'other': the license's short id (lowercase letters, digits, "
        "'.' and '-', e.g. my-lab-data-license-1.0).",
    )
    review_min_share = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="A pairwise task goes to the review queue when no answer has at least this "
        "share of its votes (or when its majority contradicts gold).",
    )
    min_group_votes = models.PositiveIntegerField(
        default=50,
        help_text="A category leaderboard (leaderboard ?by=metadata.<key>) leaves out the "
        "groups with fewer votes than this.",
    )
    min_group_annotators = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(2)],
        help_text="Figures by annotator profile (?by=profile.<key>) merge the groups with fewer "
        "annotators than this into 'other' (left out if still fewer): no small group is shown.",
    )
    sampling = models.CharField(
        max_length=10,
        choices=Sampling.choices,
        default=Sampling.UNIFORM,
        help_text="Pairwise projects: 'active' serves the pair of models whose next vote "
        "narrows the leaderboard's intervals most (README, Active pair sampling).",
    )
    explore_share = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="With active sampling, the share of tasks whose pair is drawn uniformly.",
    )
    route = models.CharField(
        max_length=10,
        choices=Route.choices,
        default=Route.OFF,
        help_text="Routing to people (README, LLM judges): with 'uncertain', tasks an LLM judge "
        "could not settle are served first and get annotations_per_task human judgments, the "
        "rest route_human_k.",
    )
    route_human_k = models.PositiveSmallIntegerField(
        default=1,
        help_text="With route 'uncertain': the human judgments (spot checks) of a task the "
        "judge settled; 1 to annotations_per_task.",
    )
    arena_prompts_per_hour = models.PositiveIntegerField(
        default=60,
        validators=[MaxValueValidator(100_000)],
        help_text="Arena prompts one annotator, and one client address, may send per hour "
        "(README, Arena safety); 0: the arena takes no prompts.",
    )
    prompt_blocklist = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_prompt_blocklist],
        help_text="Terms an arena prompt may not contain (whole words, any case); a prompt "
        "with one is refused and says so.",
    )
    seed_prompts = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_seed_prompts],
        help_text="Arena projects: prompts an annotator may pick instead of writing one.",
    )
    reveal_after_vote = models.BooleanField(
        default=True,
        help_text="Arena projects: show the two model names once the annotator has voted.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    rubric_version = models.PositiveIntegerField(
        default=1, help_text="Bumped when the criteria change after judgments exist."
    )
    access = models.CharField(max_length=10, choices=Access.choices, default=Access.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_projects",
    )
    researchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="shared_projects",
        help_text="Researchers this project is shared with, besides its owner.",
    )
    members = models.ManyToManyField(
        "Annotator",
        blank=True,
        related_name="member_projects",
        help_text="Annotators who may work on it when access is 'members'.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(annotations_per_task__gte=1), name="project_k_at_least_one"
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_0_1"
            ),
            models.CheckConstraint(
                condition=Q(strength_scale__in=[0, 3]), name="project_strength_scale_0_or_3"
            ),
            models.CheckConstraint(condition=Q(lease_seconds__gte=10), name="project_lease_min"),
            models.CheckConstraint(
                condition=Q(explore_share__gte=0) & Q(explore_share__lte=1),
                name="project_explore_share_0_1",
            ),
            models.CheckConstraint(
                condition=Q(min_group_annotators__gte=2), name="project_min_group_annotators_2"
            ),
            models.CheckConstraint(
                condition=Q(route_human_k__gte=1) & Q(route_human_k__lte=F("annotations_per_task")),
                name="project_route_human_k_1_to_k",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """An SPDX license is kept in SPDX's spelling; `license_name` goes with `other`."""
        canonical = spdx_license_id(self.license) if self.license not in ("", OTHER) else None
        if canonical:
            self.license = canonical
        if self.license == OTHER and not self.license_name:
            raise ValidationError({"license_name": "name the license when it is 'other'"})
        if self.license_name and self.license != OTHER:
            raise ValidationError({"license_name": "only goes with license 'other'"})
        if self.sampling == self.Sampling.ACTIVE and not self.is_pairwise:
            raise ValidationError({"sampling": "active sampling is for pairwise projects only"})
        if self.route_human_k is not None and not (
            1 <= self.route_human_k <= (self.annotations_per_task or 1)
        ):
            raise ValidationError({"route_human_k": "from 1 to annotations_per_task"})
        if self.seed_prompts and not self.is_arena:
            raise ValidationError({"seed_prompts": "only arena projects take seed prompts"})
        quota_errors = group_quota_errors(self.group_quotas, self.survey or [])
        if quota_errors:
            raise ValidationError(
                {"group_quotas": "; ".join(f"{e['field']}: {e['error']}" for e in quota_errors)}
            )

    @property
    def is_pairwise(self) -> bool:
        """Pairwise tasks: imported pairs, and the arena's live pairs."""
        return self.kind in (self.Kind.PAIRWISE, self.Kind.ARENA)

    @property
    def is_arena(self) -> bool:
        return self.kind == self.Kind.ARENA

    @property
    def task_kind(self) -> str:
        """The kind of task the project's judgments answer (exports and imports go by it):
        an arena's votes are pairwise judgments."""
        return self.Kind.PAIRWISE if self.is_arena else self.kind

    @property
    def is_ranking(self) -> bool:
        return self.kind == self.Kind.RANKING


class Criterion(models.Model):
    """A rubric dimension, or in a pairwise project a per-criterion A / B / tie question."""

    class Type(models.TextChoices):
        SCORE = "score", "Score"
        SPANS = "spans", "Spans"
        VERDICT = "verdict", "Verdict (good / bad)"

    class Level(models.TextChoices):
        NOMINAL = "nominal", "Nominal"
        ORDINAL = "ordinal", "Ordinal"
        INTERVAL = "interval", "Interval"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    min = models.IntegerField(default=0)
    max = models.IntegerField(default=4)
    level_labels = models.JSONField(
        default=dict,
        blank=True,
        help_text='Label per score, e.g. {"0": "useless", "4": "perfect"}.',
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.ORDINAL)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.SCORE)
    labels = models.JSONField(
        default=list,
        blank=True,
        help_text='Span labels: [{"key": "factual_error", "description": "...", "shortcut": "f"}].',
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project", "position", "id"]
        verbose_name_plural = "criteria"
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="criterion_key_unique"),
            models.CheckConstraint(condition=Q(min__lt=F("max")), name="criterion_min_below_max"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def is_spans(self) -> bool:
        return self.type == self.Type.SPANS

    @property
    def is_verdict(self) -> bool:
        return self.type == self.Type.VERDICT

    def clean(self) -> None:
        """A spans criterion is a label set, not a scale: it needs labels and keeps the
        scale's fields at their defaults (the API refuses them by name when given); any
        other criterion takes no span labels. A verdict (good / bad) has a fixed scale:
        stored as 0..1, nominal, so agreement and summaries treat it as a two-category
        criterion; a scale set on one by hand (in the admin) is refused by name."""
        errors: dict[str, str] = {}
        if self.is_spans:
            try:
                self.labels = span_labels_check(self.labels)
            except SpansInvalid as exc:
                errors["labels"] = f"{exc.field}: {exc}" if exc.field != "labels" else str(exc)
            if self.level_labels:
                errors["level_labels"] = "a spans criterion takes no level labels"
            for name in ("min", "max"):
                if getattr(self, name) != self._meta.get_field(name).default:
                    errors[name] = f"a spans criterion takes no {name}"
        elif self.labels:
            errors["labels"] = "only a spans criterion takes span labels"
        if self.is_verdict:
            if (self.min, self.max) not in ((0, 1), (0, 4)):
                errors["min"] = "a verdict criterion is good or bad; it takes no min or max"
            if self.level_labels:
                errors["level_labels"] = "a verdict criterion is good or bad; it takes no labels"
        if errors:
            raise ValidationError(errors)
        if self.is_verdict:
            self.min, self.max, self.level = 0, 1, self.Level.NOMINAL

    def levels(self) -> list[tuple[int, str]]:
        """Every score of the range with its label (empty when none was given)."""
        labels = {str(k): v for k, v in (self.level_labels or {}).items()}
        return [(score, labels.get(str(score), "")) for score in range(self.min, self.max + 1)]


class RubricVersion(models.Model):
    """The criteria a project had before a change, kept because judgments were made under
    them; the current criteria are the project's `rubric_version`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rubric_versions")
    version = models.PositiveIntegerField()
    criteria = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="rubric_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.project} rubric v{self.version}"


class Item(models.Model):
    """One prompt (text or chat messages) with the responses to compare or rate."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=200, help_text="The item's id in the import file.")
    prompt = models.JSONField(help_text="A string, or a list of {role, content} messages.")
    metadata = models.JSONField(default=dict, blank=True)
    reference = models.JSONField(
        null=True, blank=True, help_text="The original dataset's label, kept to report agreement."
    )
    gold = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_id_unique"),
        ]

    def __str__(self) -> str:
        return self.external_id


class Response(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses")
    external_id = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    style = models.JSONField(
        default=dict,
        blank=True,
        help_text="Style features of the text, counted on import (stats.style.style_features): "
        "chars, tokens, headers, list_items, bold, code_blocks.",
    )
    identity_leak = models.BooleanField(
        default=False,
        help_text="The text names its own model or vendor (arena, README Arena safety): votes "
        "on its tasks are left out of leaderboards and exports unless asked for.",
    )

    class Meta:
        ordering = ["item", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "external_id"], name="response_id_unique"),
        ]
        indexes = [
            # The few flagged responses, found without reading a project's every response.
            models.Index(
                fields=["item"],
                condition=Q(identity_leak=True),
                name="response_identity_leak_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item.external_id}/{self.external_id}"


#: Between the two model names of a task's `model_pair` (a character no model name holds).
MODEL_PAIR_SEPARATOR = "\x1f"


def model_pair_key(first: str, second: str) -> str:
    """The pair of models two responses come from, in either order: a task's `model_pair`."""
    return MODEL_PAIR_SEPARATOR.join(sorted((first, second)))


class Task(models.Model):
    """What one annotator sees: a pair of responses (pairwise), one response (rubric), or
    every response of the item (ranking: `response_a` is its first, `response_b` empty)."""

    class Route(models.IntegerChoices):
        """Where an LLM judge's last verdict puts the task in the human queue when the
        project routes (README, LLM judges): the queue is ordered by this value."""

        TO_PEOPLE = 0, "Judge uncertain: people first, annotations_per_task judgments"
        UNJUDGED = 1, "No verdict yet: annotations_per_task judgments"
        SPOT_CHECK = 2, "Judge settled it: route_human_k judgments"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="tasks")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(
        Response, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    gold_answer = models.JSONField(
        null=True,
        blank=True,
        help_text='Known answer: {"choice": "a"|"b"|"tie"} or {"scores": {key: n}}.',
    )
    is_gold = models.BooleanField(default=False)
    judgment_count = models.PositiveIntegerField(default=0)
    model_pair = models.CharField(
        max_length=401,
        blank=True,
        default="",
        help_text="A pair's two model names, sorted (model_pair_key); empty for one response.",
    )
    route = models.PositiveSmallIntegerField(
        choices=Route.choices,
        default=Route.UNJUDGED,
        editable=False,
        help_text="Set by each LLM judge verdict; read only when the project routes.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["response_a", "response_b"],
                condition=Q(response_b__isnull=False),
                name="task_pair_unique",
            ),
            models.UniqueConstraint(
                fields=["response_a"],
                condition=Q(response_b__isnull=True),
                name="task_single_response_unique",
            ),
            models.CheckConstraint(
                condition=~Q(response_a=F("response_b")), name="task_pair_distinct"
            ),
        ]
        indexes = [
            # The queue: open tasks of a project, closest to done first, then oldest.
            models.Index(
                fields=["project", "is_gold", "-judgment_count", "id"], name="task_queue_idx"
            ),
            # Active sampling: the same queue, narrowed to one pair of models.
            models.Index(
                fields=["project", "is_gold", "model_pair", "-judgment_count", "id"],
                name="task_pair_queue_idx",
            ),
            # Routing to people: the queue with the judge's uncertain tasks first.
            models.Index(
                fields=["project", "is_gold", "route", "-judgment_count", "id"],
                name="task_route_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk}"


class Annotator(models.Model):
    """A person (or model judge) who gives judgments. Signed-in users get one; crowd workers
    get one keyed by (platform, worker id), with no user account at all, so no password,
    no staff rights and no username anyone could sign up with; imported judgments name
    their own."""

    class Source(models.TextChoices):
        LOCAL = "local", "Local account"
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon MTurk"
        IMPORT = "import", "Imported judgments"
        JUDGE = "judge", "LLM judge"

    #: Sources whose public id is their external id (an imported id, a judge's name).
    NAMED_SOURCES = (Source.IMPORT, Source.JUDGE)

    class Kind(models.TextChoices):
        HUMAN = "human", "Human"
        MODEL = "model", "Model judge"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="annotator",
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LOCAL)
    external_id = models.CharField(
        max_length=200, blank=True, help_text="Prolific PID, MTurk workerId or imported id."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.HUMAN)
    pseudonym = models.CharField(max_length=32, unique=True, default=_new_pseudonym, editable=False)
    language = models.CharField(
        max_length=10,
        blank=True,
        choices=UI_LANGUAGES,
        help_text="The language the annotator chose for the pages (empty: not chosen).",
    )
    shortcuts_enabled = models.BooleanField(
        default=True, help_text="Single-key shortcuts on the task page (the annotator's choice)."
    )
    study_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    is_blocked = models.BooleanField(
        default=False, help_text="Blocked from every project (per-project blocks are in quality)."
    )
    blocked_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="annotator_external_id_unique",
            ),
            # A judge's annotator is a model, never a person's account.
            models.CheckConstraint(
                condition=~Q(source="judge") | (Q(kind="model") & Q(user__isnull=True)),
                name="annotator_judge_is_model",
            ),
            # A crowd identity never has a user account (no password, never staff).
            models.CheckConstraint(
                condition=~Q(source__in=["prolific", "mturk"]) | Q(user__isnull=True),
                name="annotator_crowd_without_user",
            ),
        ]

    def __str__(self) -> str:
        if self.external_id:
            return f"{self.source}:{self.external_id}"
        return self.user.get_username() if self.user else self.pseudonym

    @property
    def is_crowd(self) -> bool:
        return self.source in (self.Source.PROLIFIC, self.Source.MTURK)

    @property
    def public_id(self) -> str:
        """The id exports and reports show: imported ids and judges' names as given, everyone
        else pseudonymous."""
        if self.source in self.NAMED_SOURCES:
            return self.external_id
        return self.pseudonym


class CrowdSession(models.Model):
    """One visit of a crowd worker to a study, from the start page's POST to the end: what
    a researcher checks a submission against before approving it on the platform."""

    class Outcome(models.TextChoices):
        OPEN = "", "Working"
        COMPLETED = "completed", "Completed"
        SCREENED_OUT = "screened_out", "Screened out"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="crowd_sessions")
    annotator = models.ForeignKey(
        Annotator, on_delete=models.CASCADE, related_name="crowd_sessions"
    )
    platform = models.CharField(max_length=10, choices=Annotator.Source.choices)
    external_id = models.CharField(max_length=200)
    study_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    client_key = models.CharField(
        max_length=64, blank=True, help_text="A keyed hash of the client address (rate limit)."
    )
    submit_to = models.CharField(
        max_length=40,
        blank=True,
        help_text="MTurk's turkSubmitTo: the live or sandbox site the HIT is submitted to "
        "from the end page (empty: not an MTurk visit, or not shown in MTurk's frame).",
    )
    new_identity = models.BooleanField(
        default=False, help_text="This visit created the crowd identity."
    )
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=20, choices=Outcome.choices, default=Outcome.OPEN, blank=True
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "annotator", "session_id"], name="crowd_session_unique"
            ),
        ]
        indexes = [
            # New identities per client address and project in the last hour.
            models.Index(
                fields=["project", "client_key", "started_at"], name="crowd_session_client_idx"
            ),
            models.Index(fields=["project", "-started_at"], name="crowd_session_project_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id} in {self.project}"


class Assignment(models.Model):
    """A lease of one task to one annotator, with the side each response is shown on."""

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"

    #: An annotator never gets a task back once their assignment on it is in these states.
    FINISHED = (Status.SUBMITTED, Status.SKIPPED)

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="assignments")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LEASED)
    left_response = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=300, blank=True)
    shown_order = models.JSONField(
        null=True,
        blank=True,
        help_text="Ranking tasks: the response ids in the order shown (labels A, B, C...).",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="assignment_once_per_task"),
        ]
        indexes = [
            models.Index(fields=["task", "status", "expires_at"], name="assignment_lease_idx"),
            models.Index(fields=["annotator", "project", "status"], name="assignment_annot_idx"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk}"


class Judgment(models.Model):
    """One annotator's answer to one task, in canonical terms: `choice` names response a or b
    of the task (not a side of the screen); `shown_left` records which one was on the left."""

    class Choice(models.TextChoices):
        A = "a", "Response A"
        B = "b", "Response B"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both bad"

    class Source(models.TextChoices):
        PAGE = "page", "Annotator page"
        API = "api", "Annotator API"
        IMPORT = "import", "Imported"
        JUDGE = "judge", "LLM judge run"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgments")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="judgments")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="judgments")
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.CASCADE, related_name="judgment"
    )
    choice = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    criteria = models.JSONField(
        default=dict, blank=True, help_text='Pairwise per-criterion answers {"key": "a"|"b"|"tie"}.'
    )
    scores = models.JSONField(
        default=dict,
        blank=True,
        help_text='Rubric scores {"key": n}, verdicts {"key": true|false}.',
    )
    reasons = models.JSONField(
        default=dict, blank=True, help_text='Optional reason per verdict criterion {"key": "..."}.'
    )
    ranking = models.JSONField(
        null=True,
        blank=True,
        help_text="Ranking tasks: response ids best first, tied ids grouped: [[3], [1, 4], [2]].",
    )
    shown_order = models.JSONField(
        null=True, blank=True, help_text="Ranking tasks: the response ids in the order shown."
    )
    spans = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"response": id, "start": 10, "end": 25, "label": "...", "note": ""}] '
        "in characters of the response text as imported.",
    )
    rewrite = models.TextField(blank=True, help_text="The annotator's rewrite of a response.")
    rewrite_of = models.ForeignKey(
        Response,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The response the rewrite replaces.",
    )
    shown_left = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    seconds = models.FloatField(null=True, blank=True)
    is_gold = models.BooleanField(default=False)
    gold_correct = models.BooleanField(
        null=True, blank=True, help_text="For gold tasks: did the answer match the known one?"
    )
    study_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    rubric_version = models.PositiveIntegerField(default=1)
    txid = models.BigIntegerField(
        null=True,
        blank=True,
        editable=False,
        db_default=CurrentTransactionId(),
        help_text="The inserting transaction (PostgreSQL): the sync cursor's first key.",
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PAGE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="judgment_once_per_task"),
            models.CheckConstraint(
                condition=Q(choice__in=["", "a", "b", "tie", "both_bad"]),
                name="judgment_choice_valid",
            ),
            models.CheckConstraint(
                condition=Q(seconds__isnull=True) | Q(seconds__gte=0),
                name="judgment_seconds_not_negative",
            ),
        ]
        indexes = [
            # Export and incremental sync walk a project's judgments in id order, or in
            # (transaction, id) order on PostgreSQL.
            models.Index(fields=["project", "id"], name="judgment_project_idx"),
            models.Index(fields=["project", "txid", "id"], name="judgment_sync_idx"),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk}"


class Consent(models.Model):
    """An annotator's agreement to a project's consent text, at one version: kept for
    ethics boards, asked again only when the text changes."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="consents")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="consents")
    version = models.PositiveIntegerField()
    consented_at = models.DateTimeField()

    class Meta:
        ordering = ["project", "annotator", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "annotator", "version"], name="consent_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} agreed to v{self.version} of {self.project}"


class SurveyAnswers(models.Model):
    """An annotator's answers to a project's survey at one survey version (key to value);
    the pre-survey's are theirs to change until their first vote in the project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="survey_answers")
    annotator = models.ForeignKey(
        Annotator, on_delete=models.CASCADE, related_name="survey_answers"
    )
    version = models.PositiveIntegerField()
    answers = models.JSONField(default=dict)
    submitted = models.JSONField(
        default=list, help_text='The surveys submitted at this version: "pre", "post".'
    )
    imported = models.JSONField(
        default=list,
        blank=True,
        help_text="The keys whose answers came from a crowd platform's demographic export, "
        "not from the annotator (who makes an answer theirs by giving it).",
    )
    answered_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["project", "annotator", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "annotator", "version"], name="survey_answers_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator}'s survey answers (v{self.version}) in {self.project}"


class GroupPlace(models.Model):
    """A place an annotator holds in their group of one of the project's group quotas,
    taken when they first ask for a task and kept (README "Group quotas")."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="group_places")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64, help_text="The survey key of the quota.")
    group = models.CharField(max_length=500, help_text="Their answer (an option's label).")
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["project", "key", "group", "taken_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "annotator", "key"], name="group_place_once_per_key"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "key", "group"], name="group_place_count_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} in {self.key}={self.group} of {self.project}"


class AnnotatorStats(models.Model):
    """Running quality figures of one annotator in one project, updated with every vote so
    gold accuracy, side bias and speed are always current, and the flags they raise."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotator_stats")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="stats")
    judgments = models.PositiveIntegerField(default=0)
    decided = models.PositiveIntegerField(default=0, help_text="Votes for one side (not ties).")
    left_choices = models.PositiveIntegerField(default=0)
    fast_judgments = models.PositiveIntegerField(default=0)
    gold_judgments = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    seconds_total = models.FloatField(default=0.0)
    qualified = models.BooleanField(
        null=True, blank=True, help_text="Passed the qualification quiz (empty: not taken)."
    )
    flags = models.JSONField(default=list, blank=True)
    is_blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="A note for researchers; never shown to the annotator.",
    )
    blocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The researcher who blocked them (empty: the qualification quiz, or unknown).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "annotator quality"
        verbose_name_plural = "annotator quality"
        ordering = ["project", "annotator"]
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="stats_once_per_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} in {self.project}"

    @property
    def left_rate(self) -> float | None:
        return self.left_choices / self.decided if self.decided else None

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_judgments if self.gold_judgments else None

    @property
    def fast_share(self) -> float | None:
        return self.fast_judgments / self.judgments if self.judgments else None


class AgreementReport(models.Model):
    """One computation of a project's statistics: agreement, annotators, leaderboard.
    Rows are kept, so agreement can be followed over time; the newest is the current one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reports")
    computed_at = models.DateTimeField()
    last_judgment_id = models.BigIntegerField(
        default=0, help_text="The newest judgment the report saw; newer ones make it stale."
    )
    n_judgments = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, help_text="The figures of human judgments.")
    leaderboard = models.JSONField(
        null=True, blank=True, help_text="Human votes, flagged and blocked annotators left out."
    )
    variants = models.JSONField(
        default=dict,
        blank=True,
        help_text="The report and leaderboards of the other annotator kinds (and of the "
        "leaderboard with flagged annotators), each the figures or the name of an identical one.",
    )
    failed = models.BooleanField(
        default=False, help_text="The computation failed: no figures, the error says why."
    )
    error = models.TextField(blank=True)
    duration_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-computed_at", "-id"]
        get_latest_by = "computed_at"
        indexes = [
            models.Index(fields=["project", "-computed_at"], name="report_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"report on {self.project} at {self.computed_at:%Y-%m-%d %H:%M}"


class TaskLabel(models.Model):
    """The aggregated answer of a pairwise task: the majority and a reliability-weighted
    (Dawid-Skene) label, with the share of judgments behind each. Exports use these.

    Labels are derived data, rewritten by every report, so the database does not check
    their task reference: a foreign-key check locks each task row it checks (FOR KEY SHARE)
    until the report commits, and the task lease skips locked tasks, so the tasks whose votes
    had just changed their labels could not be handed out while a report was being stored;
    and a first report spent longer checking 200k tasks than inserting their labels. Labels
    are written only for tasks that exist (the report joins them), and deleting a task
    through the ORM still deletes its label (on_delete=CASCADE is Django's)."""

    task = models.OneToOneField(
        Task,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="label",
        db_constraint=False,
    )
    n_judgments = models.PositiveIntegerField(default=0)
    majority = models.CharField(max_length=10, blank=True, help_text="Empty when tied.")
    majority_share = models.FloatField(default=0.0)
    weighted = models.CharField(max_length=10, blank=True)
    weighted_confidence = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"label of {self.task_id}"


class Adjudication(models.Model):
    """A researcher's decision on a pairwise task whose votes split or contradict gold: the
    label it takes in the `labels` export and in `dpo` with `label=adjudicated`. One per
    task: a newer decision replaces it, with its own researcher and time."""

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="adjudication")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="adjudications")
    label = models.CharField(max_length=10, choices=Judgment.Choice.choices)
    note = models.TextField(blank=True)
    researcher = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who decided (empty: the account was deleted since).",
    )
    decided_at = models.DateTimeField()
    last_judgment_id = models.BigIntegerField(
        default=0,
        help_text="The project's newest judgment when decided: an export with `since` at or "
        "below it gives the task again.",
    )

    class Meta:
        ordering = ["project", "task"]
        constraints = [
            models.CheckConstraint(
                condition=Q(label__in=["a", "b", "tie", "both_bad"]),
                name="adjudication_label_valid",
            ),
        ]
        indexes = [
            # Incremental exports: the project's decisions after a cursor.
            models.Index(fields=["project", "decided_at"], name="adjudication_decided_idx"),
            models.Index(fields=["project", "last_judgment_id"], name="adjudication_cursor_idx"),
        ]

    def __str__(self) -> str:
        return f"adjudication of {self.task_id}"


def _snapshot_path(snapshot: Snapshot, filename: str) -> str:
    return f"snapshots/{snapshot.project.slug}/{filename}"


class Snapshot(models.Model):
    """An immutable, versioned export written by a worker: once ready it never changes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    query = models.JSONField(default=dict, help_text="The export's format, filetype and filters.")
    file = models.FileField(upload_to=_snapshot_path, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    card = models.TextField(blank=True, help_text="The dataset card (Markdown).")
    protocol = models.JSONField(
        default=dict, blank=True, help_text="The project's settings and criteria at export time."
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker last took the build (or beat queued it again): a pending "
        "snapshot whose claim is older than SNAPSHOT_CLAIM_TIMEOUT_SECONDS, and that no "
        "worker holds, is built again.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "ready", "failed"]), name="snapshot_status"
            ),
        ]

    def __str__(self) -> str:
        return f"snapshot {self.pk} of {self.project}"


class ImportJob(models.Model):
    """An import of items or judgments too large to run within a request: the uploaded
    content waits here for a worker, which records its progress and, when it ends, what was
    imported or the errors with their line numbers (then nothing was imported)."""

    class Kind(models.TextChoices):
        ITEMS = "items", "Items"
        JUDGMENTS = "judgments", "Judgments"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    filetype = models.CharField(max_length=10, help_text="jsonl, json or csv.")
    content = models.BinaryField(
        blank=True,
        help_text="The uploaded file, until the job has run (kept in the database, "
        "which web and worker share).",
    )
    file_name = models.CharField(max_length=255, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text='Bad lines, each {"line": n, "error": "..."}.'
    )
    result = models.JSONField(default=dict, blank=True, help_text="What was imported.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]),
                name="importjob_status",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["items", "judgments"]), name="importjob_kind"
            ),
            models.CheckConstraint(
                condition=Q(rows_done__lte=F("rows_total")), name="importjob_rows_done_lte_total"
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.kind} into {self.project}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0


class ApiToken(models.Model):
    """A named API key of a user (researchers make several: one per pipeline or machine),
    revoked by deleting it. Only the key's SHA-256 is stored: the key is shown once, when
    it is made. `last_used_at` is written at most once a minute, not on every request."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="The key's first characters, to recognise it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="api_token_name_per_user"),
        ]

    def __str__(self) -> str:
        return f"API token {self.name!r} of {self.user}"


class Webhook(models.Model):
    """A researcher's subscription to a project's events, posted to `url` and signed with
    `secret` (README, Webhooks). The `batch_*` and `completed_sent_at` fields remember what
    was already announced, so judgments.batch goes out at most once a minute and
    project.completed once."""

    class Event(models.TextChoices):
        SNAPSHOT_READY = "snapshot.ready"
        SNAPSHOT_FAILED = "snapshot.failed"
        REPORT_UPDATED = "report.updated"
        PROJECT_COMPLETED = "project.completed"
        JUDGMENTS_BATCH = "judgments.batch"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    batch_sent_at = models.DateTimeField(null=True, blank=True)
    batch_last_judgment_id = models.BigIntegerField(default=0)
    completed_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} of {self.project} to {self.url}"


class WebhookDelivery(models.Model):
    """One attempt to post one event: retries and resends are new rows with the same
    `event_id` and body, so the list shows every attempt with its answer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    event_id = models.CharField(max_length=32)
    body = models.TextField()
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    first_created_at = models.DateTimeField(help_text="When the event's first attempt was made.")
    scheduled_for = models.DateTimeField(help_text="When this attempt is (or was) due.")
    attempted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]),
                name="webhook_delivery_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to webhook {self.webhook_id} (attempt {self.attempt})"


class ModelEndpoint(models.Model):
    """An OpenAI-compatible chat completions API a project's arena draws from and its LLM
    judges call (README, Model endpoints). `name` is what leaderboards and exports call the
    model. The API key is kept Fernet-encrypted (annotation.secret_box) and is never shown
    again; `unhealthy_until` and `last_error` remember a failure (never with the key)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=2000)
    model = models.CharField(max_length=200)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    aliases = models.JSONField(
        default=list,
        blank=True,
        help_text="Names and vendors the model may call itself (the arena's identity-leak filter).",
    )
    unhealthy_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="endpoint_name_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model} at {self.base_url})"

    @property
    def api_key_set(self) -> bool:
        return bool(self.api_key_encrypted)


class ArenaPromptAdmission(models.Model):
    """An arena prompt let through (services.arena_safety.arena_prompt_admit): the rows of
    the last hour are what `arena_prompts_per_hour` counts, per annotator and per client
    address. The address is kept only as a keyed hash (services.crowd.client_key)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="arena_prompt_admissions"
    )
    annotator = models.ForeignKey(
        Annotator, on_delete=models.CASCADE, related_name="arena_prompt_admissions"
    )
    client_key = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["project", "annotator", "created_at"], name="arena_admission_annotator_idx"
            ),
            models.Index(
                fields=["project", "client_key", "created_at"], name="arena_admission_client_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"arena prompt of {self.annotator_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ArenaBattle(models.Model):
    """One annotator's conversation with two blind models of an arena project, the same
    two on the same sides turn after turn (a model that fails is replaced on its side)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="arena_battles")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="arena_battles")
    left_endpoint = models.ForeignKey(
        ModelEndpoint, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    right_endpoint = models.ForeignKey(
        ModelEndpoint, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "annotator", "-id"], name="arena_battle_mine_idx"),
        ]

    def __str__(self) -> str:
        return f"arena battle {self.pk} in {self.project}"


class ArenaTurn(models.Model):
    """One prompt of a battle and the two answers as they stream in; once both are complete
    it becomes an ordinary item with two responses and a pairwise task leased to the author."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready for the vote"
        FAILED = "failed", "No two models could answer"

    battle = models.ForeignKey(ArenaBattle, on_delete=models.CASCADE, related_name="turns")
    number = models.PositiveIntegerField(default=1)
    prompt = models.TextField()
    messages = models.JSONField(
        default=list, help_text="The conversation the two models answer (chat messages)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt = models.PositiveIntegerField(
        default=0, help_text="Generation runs so far: only the latest one writes."
    )
    left_text = models.TextField(blank=True)
    right_text = models.TextField(blank=True)
    left_done = models.BooleanField(default=False)
    right_done = models.BooleanField(default=False)
    item = models.OneToOneField(
        Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="arena_turn"
    )
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="arena_turn"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["battle", "number"]
        constraints = [
            models.UniqueConstraint(fields=["battle", "number"], name="arena_turn_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "generating", "ready", "failed"]),
                name="arena_turn_status",
            ),
        ]

    def __str__(self) -> str:
        return f"turn {self.number} of battle {self.battle_id}"


class Judge(models.Model):
    """An LLM judge of a project (README, LLM judges): an endpoint and a prompt template for
    the project's kind. Its verdicts are judgments of `annotator`, a model annotator named
    after the judge; `template_version` goes up with every change of template or params, and
    each verdict records the version it was made under."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judges")
    name = models.CharField(max_length=100)
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="judges")
    template = models.TextField()
    params = models.JSONField(default=dict, blank=True)
    template_version = models.PositiveIntegerField(default=1)
    annotator = models.ForeignKey(Annotator, on_delete=models.PROTECT, related_name="judges")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="judge_name_per_project"),
        ]

    def __str__(self) -> str:
        return self.name


def _all_tasks() -> str:
    return "all"


class JudgeRun(models.Model):
    """One pass of a judge over some tasks of its project, done by a Celery job that can be
    killed and run again: its verdicts (JudgeVerdict) are claimed once per task."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Stop(models.TextChoices):
        NONE = "", "Not stopped"
        MAX_CALLS = "max_calls", "max_calls reached"
        FAILURES = "failures", "Too many failures in a row"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judge_runs")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    tasks = models.JSONField(
        default=_all_tasks,
        help_text='"all", "unjudged" or {"include_gold", "min_judgments", "since"}.',
    )
    swap = models.BooleanField(default=True)
    samples = models.PositiveSmallIntegerField(default=1)
    max_calls = models.PositiveIntegerField(null=True, blank=True)
    task_ids = models.JSONField(default=list, help_text="The tasks chosen when the run began.")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    unparseable = models.PositiveIntegerField(default=0)
    stopped = models.CharField(max_length=20, choices=Stop.choices, default=Stop.NONE, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker last took the run or recorded a task of it, or beat queued it "
        "again: a running run claimed long ago has lost its worker.",
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(samples__gte=1), name="judge_run_samples_positive"),
            models.CheckConstraint(
                condition=Q(done__lte=F("total")), name="judge_run_done_le_total"
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="judge_run_project_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.judge}"

    @property
    def calls_per_task(self) -> int:
        return (2 if self.swap else 1) * self.samples


class JudgeVerdict(models.Model):
    """A judge's verdict on one task in one run, with everything behind it: one output per
    order and sample (`outputs`: order, sample, raw text, parsed answer, canonical choice,
    confidence, tokens, error), the majority choice of each order, the calibrated choice
    and whether the orders agreed. Claimed before the calls (status `claimed`), so a run
    taken up again never judges a finished task twice."""

    class Status(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Judged"
        UNPARSEABLE = "unparseable", "Unparseable answer"
        FAILED = "failed", "Endpoint failed"

    #: Statuses of a verdict that is finished (a claimed one is still to be judged).
    FINISHED = (Status.DONE, Status.UNPARSEABLE, Status.FAILED)

    run = models.ForeignKey(JudgeRun, on_delete=models.CASCADE, related_name="verdicts")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="verdicts")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="judge_verdicts")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CLAIMED)
    template_version = models.PositiveIntegerField()
    outputs = models.JSONField(default=list, blank=True)
    choice_first = models.CharField(
        max_length=10, blank=True, help_text="Pairwise: the majority choice, task's order (a/b)."
    )
    choice_swapped = models.CharField(
        max_length=10, blank=True, help_text="Pairwise: the majority choice, swapped order (a/b)."
    )
    first_position_wins = models.PositiveSmallIntegerField(
        default=0, help_text="Pairwise: outputs that chose the response shown first."
    )
    decisive_outputs = models.PositiveSmallIntegerField(
        default=0, help_text="Pairwise: outputs that chose one response (not tie or both_bad)."
    )
    choice = models.CharField(
        max_length=10,
        blank=True,
        help_text="Pairwise: the calibrated choice (a, b, tie, both_bad).",
    )
    consistent = models.BooleanField(
        null=True, blank=True, help_text="With swap: did both orders give the same answer?"
    )
    scores = models.JSONField(default=dict, blank=True, help_text="Rubric: calibrated scores.")
    ranking = models.JSONField(
        null=True, blank=True, help_text="Ranking: calibrated ranking in response ids."
    )
    confidence = models.FloatField(
        null=True, blank=True, help_text="The mean confidence the outputs stated (when they did)."
    )
    agreement = models.FloatField(
        null=True,
        blank=True,
        help_text="Pairwise: the share of outputs giving the calibrated choice.",
    )
    tokens = models.PositiveIntegerField(default=0)
    judgment = models.ForeignKey(
        Judgment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "task"]
        constraints = [
            models.UniqueConstraint(fields=["run", "task"], name="judge_verdict_once_per_run"),
        ]
        indexes = [
            models.Index(fields=["judge", "task"], name="judge_verdict_judge_task_idx"),
            models.Index(fields=["run", "status"], name="judge_verdict_run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"verdict of {self.judge_id} on task {self.task_id}"
