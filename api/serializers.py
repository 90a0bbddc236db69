"""Shapes of the REST API. Validation of the domain lives in the services."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from annotation.exports.query import EXPORT_FILETYPES, EXPORT_FORMATS
from annotation.models import (
    MAX_ARENA_PROMPT,
    Criterion,
    CrowdSession,
    ImportJob,
    Item,
    Judge,
    JudgeRun,
    ModelEndpoint,
    Project,
    Response,
    RubricVersion,
    Snapshot,
    Webhook,
    WebhookDelivery,
)
from annotation.numbers import ascii_float, ascii_int
from annotation.presets import PRESET_CHOICES, SURVEY_PRESET_CHOICES
from annotation.services.projects import CRITERION_FIELDS, PROJECT_FIELDS, SCALE_FIELDS


def absolute_url(context: Mapping[str, Any], path: str) -> str:
    """`path` as a full URL when the serializer has the request, else as it is."""
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


class StrictFieldsMixin:
    """Names every key of a body that this serializer does not take (README "REST API"): an
    unknown one, or a read-only one, which DRF would otherwise drop without a word. They are
    reported with the body's other errors."""

    def to_internal_value(self, data: Any) -> Any:
        refused: dict[str, str] = {}
        if isinstance(data, Mapping):
            for key in sorted(map(str, data)):
                field = self.fields.get(key)  # type: ignore[attr-defined]
                if field is None:
                    refused[key] = "unknown field"
                elif field.read_only:
                    refused[key] = "read-only field"
        try:
            value = super().to_internal_value(data)  # type: ignore[misc]
        except serializers.ValidationError as exc:
            if refused and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **refused}) from exc
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value


class NoBodySerializer(StrictFieldsMixin, serializers.Serializer):
    """An action that takes no body: nothing, `{}`, or a 400 naming what was sent."""


class CriterionSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Criterion
        fields = list(CRITERION_FIELDS)
        extra_kwargs = {"label": {"required": False}}

    def to_representation(self, instance: Criterion) -> dict[str, Any]:
        """A spans criterion has no scale: its min, max and level labels are left out, so
        a project read back can be written back as it is."""
        data = super().to_representation(instance)
        if instance.type == Criterion.Type.SPANS:
            for name in SCALE_FIELDS:
                data.pop(name, None)
        return data

    def validate_level_labels(self, value: Any) -> Any:
        """A label per score: {"0": "useless", ...}, or a list of labels from `min` up."""
        labels = value.values() if isinstance(value, dict) else value
        if not isinstance(value, dict | list) or not all(isinstance(v, str) for v in labels):
            raise serializers.ValidationError("must be an object of labels by score, or a list")
        return value


class RubricVersionSerializer(serializers.ModelSerializer):
    """An earlier rubric version: the criteria judgments of that version were made under."""

    archived_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = RubricVersion
        fields = ["version", "criteria", "archived_at"]
        read_only_fields = fields


class ProjectSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    criteria = CriterionSerializer(many=True, required=False)
    rubric_versions = RubricVersionSerializer(
        many=True,
        read_only=True,
        help_text="The earlier rubric versions, oldest first; the current one is "
        "`rubric_version` with `criteria`.",
    )
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    preset = serializers.ChoiceField(
        choices=PRESET_CHOICES,
        write_only=True,
        required=False,
        help_text="On create: start from a preset protocol and criteria; given fields win.",
    )

    # Checked by the service, which names each question's problem (not the model validator).
    survey = serializers.JSONField(
        required=False,
        help_text="Survey questions: {key, text, type, options, required, sensitive, when}.",
    )
    survey_preset = serializers.ChoiceField(
        choices=SURVEY_PRESET_CHOICES,
        write_only=True,
        required=False,
        help_text="Fill `survey` with a preset's questions (when `survey` is not given).",
    )

    class Meta:
        model = Project
        fields = [
            *PROJECT_FIELDS,
            "rubric_version",
            "rubric_versions",
            "consent_version",
            "survey_version",
            "survey_preset",
            "criteria",
            "preset",
            "owner",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "owner",
            "rubric_version",
            "rubric_versions",
            "consent_version",
            "survey_version",
            "created_at",
            "updated_at",
        ]
        # Uniqueness and ranges are checked by the service (one place for the rules).
        extra_kwargs = {"slug": {"validators": []}}


class ResponseSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")

    class Meta:
        model = Response
        fields = ["id", "model", "text"]


class ItemSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")
    responses = ResponseSerializer(many=True)

    class Meta:
        model = Item
        fields = ["id", "prompt", "responses", "metadata", "reference", "gold", "created_at"]


class ImportResultSerializer(serializers.Serializer):
    items_created = serializers.IntegerField()
    items_updated = serializers.IntegerField(help_text="Existing items this import changed.")
    items_unchanged = serializers.IntegerField(help_text="Existing items it left as they were.")
    responses_created = serializers.IntegerField()
    tasks_created = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    tasks_total = serializers.IntegerField()
    tasks_complete = serializers.IntegerField()
    judgments = serializers.IntegerField()
    judgments_last_hour = serializers.IntegerField()
    active_annotators = serializers.IntegerField()


class AsciiIntegerField(serializers.IntegerField):
    """An integer; given as a text, in ASCII digits only (int() would read '٣' as 3)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and ascii_int(self.re_decimal.sub("", data)) is None:
            self.fail("invalid")
        return super().to_internal_value(data)


class AsciiFloatField(serializers.FloatField):
    """A finite number; given as a text, in ASCII digits only (float() would read '٣')."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, str) and ascii_float(data) is None:
            self.fail("invalid")
        return super().to_internal_value(data)


class ScoreOrVerdictField(AsciiIntegerField):
    """A rubric answer: an integer score, or true / false for a verdict criterion (which
    one the criterion takes is the judging service's check)."""

    default_error_messages = {
        "invalid": "must be an integer score, or true or false for a verdict criterion"
    }

    def to_internal_value(self, data: Any) -> int | bool:
        if isinstance(data, bool):
            return data
        return super().to_internal_value(data)

    def to_representation(self, value: Any) -> int | bool:
        return value if isinstance(value, bool) else super().to_representation(value)


class SkipInSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


class JudgmentInSerializer(StrictFieldsMixin, serializers.Serializer):
    """An annotator's answer, in screen terms. Types are checked here; the rules of the
    project (which choices, which scale) by the judging service."""

    choice = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    strength = AsciiIntegerField(required=False, allow_null=True)
    rationale = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=5000
    )
    criteria = serializers.DictField(child=serializers.CharField(), required=False)
    scores = serializers.DictField(
        child=ScoreOrVerdictField(),
        required=False,
        help_text='Rubric scores {"key": 3}; a verdict criterion takes true (good) or false (bad).',
    )
    reasons = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=2000),
        required=False,
        help_text='Optional reason per verdict criterion: {"harmless": "gives unsafe advice"}.',
    )
    ranking = serializers.JSONField(
        required=False,
        help_text="Ranking tasks: the screen labels in groups, best first, ties grouped: "
        '[["C"], ["A", "D"], ["B"]].',
    )
    spans = serializers.JSONField(
        required=False,
        help_text='Span criteria: [{"response": "left", "start": 10, "end": 25, "label": '
        '"factual_error", "note": ""}], response being left / right, a ranking\'s screen '
        "label or response, offsets in characters (code points) of the response text.",
    )
    rewrite = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        help_text="Projects with `rewrite` on: the annotator's rewrite of the response (rubric), "
        "the preferred one (pairwise) or the one ranked first (ranking).",
    )
    rewrite_of = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The response rewritten as shown (left / right, A, B...), where the answer "
        "leaves a choice: a tie or both bad, a tie for first place.",
    )
    seconds = AsciiFloatField(required=False, allow_null=True, min_value=0)


class JudgmentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assignment = serializers.IntegerField(source="assignment_id")
    created_at = serializers.DateTimeField()
    reveal = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text='Arena projects with reveal_after_vote: {"left": model, "right": model}.',
    )


class ArenaPromptInSerializer(StrictFieldsMixin, serializers.Serializer):
    prompt = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text="What the annotator asks (or one of the project's seed_prompts); at most "
        f"{MAX_ARENA_PROMPT} characters.",
    )
    battle = serializers.IntegerField(
        required=False,
        help_text="Continue this battle (the `battle` of an earlier answer, voted on): the "
        "same two models on the same sides answer the conversation so far.",
    )


class ArenaSideSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The answer as far as it came.")
    done = serializers.BooleanField()


class ArenaTurnOutSerializer(serializers.Serializer):
    """Documentation of an arena turn (built by a selector, never from models)."""

    battle = serializers.IntegerField()
    turn = serializers.IntegerField(help_text="1 for a new battle, then 2, 3...")
    status = serializers.ChoiceField(choices=["pending", "generating", "ready"])
    assignment = serializers.IntegerField(
        allow_null=True, help_text="Vote on it with the judgment endpoint once ready."
    )
    prompt = serializers.CharField()
    left = ArenaSideSerializer()
    right = ArenaSideSerializer()
    poll = serializers.CharField(
        required=False, help_text="While not ready: GET it until it answers 200."
    )
    reveal = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="After the vote, when the project reveals: the model of each side.",
    )


class JudgmentSyncPageSerializer(serializers.Serializer):
    """Documentation of a judgments sync page: rows as in the `judgments` export."""

    results = serializers.ListField(child=serializers.DictField())
    next_since = serializers.CharField()
    has_more = serializers.BooleanField()


class TaskOutSerializer(serializers.Serializer):
    """Documentation of the tasks/next answer (built by a selector, never from models)."""

    assignment = serializers.IntegerField()
    kind = serializers.CharField()
    prompt = serializers.JSONField()
    left = serializers.DictField(required=False)
    right = serializers.DictField(required=False)
    response = serializers.DictField(required=False)
    responses = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='Ranking tasks: [{"label": "A", "text": ...}, ...] in the order shown.',
    )
    criteria = serializers.ListField(child=serializers.DictField())
    expires_at = serializers.DateTimeField()


class JudgmentImportResultSerializer(serializers.Serializer):
    judgments_created = serializers.IntegerField()
    judgments_updated = serializers.IntegerField(help_text="Rows imported before, now changed.")
    judgments_unchanged = serializers.IntegerField(help_text="Rows imported before, the same.")
    annotators_created = serializers.IntegerField()


class ImportJobSerializer(serializers.ModelSerializer):
    """An import job: how far it got, and on failure every bad line (nothing was kept)."""

    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "rows_done",
            "rows_total",
            "errors",
            "kind",
            "project",
            "result",
            "url",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_url(self, job: ImportJob) -> str:
        path = reverse("api:import-detail", kwargs={"job_id": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class AgreementReportSerializer(serializers.Serializer):
    """The agreement report (README "Statistics")."""

    computed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()
    error = serializers.CharField(
        allow_null=True, help_text="Why the newest computation failed (the figures are older)."
    )
    failed_at = serializers.DateTimeField(allow_null=True)
    annotator_kind = serializers.ChoiceField(choices=["human", "model", "all"])
    criteria = serializers.DictField()
    annotators = serializers.ListField(child=serializers.DictField())
    model_judges = serializers.ListField(
        child=serializers.DictField(),
        help_text="Each model judge against the people (README, LLM judges): judge, "
        "agreement_with_human_majority (= percent_agreement), cohen_kappa {value, ci}, n, "
        "criteria {key: {percent_agreement, cohen_kappa, n}}, kendall_tau {value, ci, "
        "n_models}, position_bias {value, ci, n}, swap_consistency, swap_consistency_ci, "
        "n_swapped, routing {judged, routed, spot_checked, spot_check_agreement}. Rubric: "
        "criteria {key: {quadratic_kappa, spearman, pearson, kendall_tau, n}} (verdict "
        "criteria {percent_agreement, cohen_kappa, kendall_tau, n}); ranking: "
        "item_kendall_tau {value, ci, n_items}, position_bias also has expected.",
    )
    transitivity = serializers.DictField(required=False)
    by = serializers.CharField(
        required=False, help_text="With ?by=profile.<key> or ?by=metadata.<key>."
    )
    groups = serializers.DictField(
        required=False,
        help_text='With ?by: {value: {"criteria", "n_annotators", "n_judgments"}}, each '
        "group's agreement over its own judgments.",
    )
    cross_group = serializers.DictField(
        required=False,
        help_text='With ?by=profile.<key>: {criterion: [{"groups": [g, h], "value", "ci", '
        '"n_tasks"}]}, the share of tasks both judged whose majority labels agree.',
    )
    consistency_details = serializers.DictField(
        required=False,
        help_text="Which items' majorities form cycles (cyclic_items: item_id, cycles, "
        "triads_checked) and which annotators' own votes on an item form intransitive triads "
        "or tie contradictions (annotators: annotator_id, triads_checked, intransitive, "
        "tie_contradictions) or choose against their own criteria (score_conflicts of "
        "score_checked), the most first, 500 at most of each; n_cyclic_items and "
        "n_inconsistent_annotators count them all.",
    )
    reference_agreement = serializers.DictField(
        required=False,
        help_text="{value, ci, n}: how often the decided majority equals the items' reference.",
    )
    identity_leak_votes = serializers.IntegerField(
        required=False,
        help_text="Pairwise: votes (not gold) on tasks with an answer flagged identity_leak; "
        "counted in these figures, left out of the leaderboard (README, Arena safety).",
    )


class LeaderboardSerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    annotator_kind = serializers.ChoiceField(choices=["human", "model", "all"])
    exclude_flagged = serializers.BooleanField()
    results = serializers.ListField(child=serializers.DictField())
    win_rate = serializers.DictField()
    n_votes = serializers.IntegerField()
    style_control = serializers.BooleanField(
        required=False, help_text="With ?style_control=true (results: model, rating, ci, n)."
    )
    style_coefficients = serializers.DictField(
        required=False,
        help_text="With ?style_control=true: {feature: {value, ci}}, log-odds per standard "
        "deviation of the feature's ratio (a - b) / (a + b + 1).",
    )
    by = serializers.CharField(
        required=False, help_text="With ?by=metadata.<key> or ?by=profile.<key>."
    )
    groups = serializers.DictField(
        required=False,
        help_text='With ?by: {value: {"results", "n", ...}}, one leaderboard per value (by '
        'profile also "n_annotators"; small groups merged into "other").',
    )
    differences = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='With ?by, without style control: [{"groups": [g, h], "models": [{"model", '
        '"difference", "ci"}]}], g\'s rating minus h\'s with a 95% bootstrap interval.',
    )


class ExportQuerySerializer(serializers.Serializer):
    """Documentation of a snapshot's body: the export's query (checked by the selector)."""

    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="judgments")
    filetype = serializers.ChoiceField(choices=EXPORT_FILETYPES, default="jsonl")
    min_agreement = serializers.FloatField(required=False, min_value=0, max_value=1)
    min_judgments = serializers.IntegerField(required=False, min_value=0)
    exclude_flagged = serializers.BooleanField(default=True)
    include_gold = serializers.BooleanField(default=False)
    since = serializers.CharField(required=False, help_text="A judgment id or an ISO datetime.")
    annotator_kind = serializers.ChoiceField(
        choices=["human", "model", "all"],
        required=False,
        help_text="dpo, rubric: human by default; judgments: every row unless given.",
    )
    rubric_version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="rubric: only judgments made under this rubric version.",
    )


class SnapshotCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.URLField()


class SnapshotSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "status",
            "row_count",
            "sha256",
            "download_url",
            "card",
            "created_at",
            "finished_at",
            "query",
            "error",
        ]

    def get_download_url(self, snapshot: Snapshot) -> str | None:
        """Where the file streams from, once the snapshot is ready."""
        if snapshot.status != Snapshot.Status.READY:
            return None
        path = reverse(
            "api:snapshot-download",
            kwargs={"slug": snapshot.project.slug, "snapshot_id": snapshot.pk},
        )
        return absolute_url(self.context, path)


class CrowdSessionSerializer(serializers.ModelSerializer):
    """A crowd worker's visit, to check a submission on the platform against real work."""

    answered = serializers.IntegerField(read_only=True)
    skipped = serializers.IntegerField(read_only=True)

    class Meta:
        model = CrowdSession
        fields = [
            "id",
            "platform",
            "external_id",
            "study_id",
            "session_id",
            "started_at",
            "completed_at",
            "outcome",
            "answered",
            "skipped",
        ]


class LeaseRenewedSerializer(serializers.Serializer):
    """The renew answer: when the lease now runs out."""

    expires_at = serializers.DateTimeField()


class WebhookInSerializer(StrictFieldsMixin, serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(max_length=40), allow_empty=False)
    project = serializers.SlugField(help_text="The slug of a project this researcher manages.")


class WebhookSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    deliveries_url = serializers.SerializerMethodField()

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "project", "created_at", "deliveries_url"]

    def get_deliveries_url(self, webhook: Webhook) -> str:
        path = reverse("api:webhook-deliveries", kwargs={"webhook_id": webhook.pk})
        return absolute_url(self.context, path)


class WebhookCreatedSerializer(WebhookSerializer):
    """The secret is shown here, once: keep it to verify X-Prefpanel-Signature."""

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_id",
            "attempt",
            "status",
            "status_code",
            "error",
            "duration_ms",
            "created_at",
            "scheduled_for",
            "attempted_at",
            "payload",
        ]

    def get_payload(self, delivery: WebhookDelivery) -> dict[str, Any]:
        return json.loads(delivery.body)


class EndpointSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A model endpoint (README, Model endpoints). `api_key` is write-only: an answer says
    only whether one is set (`api_key_set`). The values are checked by the service."""

    base_url = serializers.CharField(max_length=2000)
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Sent as Authorization: Bearer; stored encrypted and never shown again. "
        "An empty string removes it.",
    )
    params = serializers.JSONField(
        required=False, help_text="Some of temperature (0-2), max_tokens, system_prompt."
    )
    aliases = serializers.JSONField(
        required=False, help_text="Names and vendors the model may call itself."
    )
    api_key_set = serializers.BooleanField(read_only=True)

    class Meta:
        model = ModelEndpoint
        fields = [
            "id",
            "name",
            "base_url",
            "model",
            "api_key",
            "api_key_set",
            "params",
            "enabled",
            "aliases",
            "unhealthy_until",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "unhealthy_until",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"name": {"validators": []}}


class JudgeSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """An LLM judge (README, LLM judges). The values are checked by the service; without a
    template a new judge takes the default of the project's kind."""

    endpoint = serializers.IntegerField(source="endpoint_id", help_text="An endpoint id.")
    template = serializers.CharField(
        required=False, trim_whitespace=False, help_text="A prompt template ({{ fields }})."
    )
    params = serializers.JSONField(
        required=False,
        help_text="Some of temperature (0-2), max_tokens, concurrency (1-32), calls_per_minute.",
    )

    class Meta:
        model = Judge
        fields = [
            "id",
            "name",
            "endpoint",
            "template",
            "params",
            "template_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["template_version", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}

    def to_internal_value(self, data: Any) -> Any:
        values = super().to_internal_value(data)
        if "endpoint_id" in values:
            values["endpoint"] = values.pop("endpoint_id")
        return values


class JudgeRunRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    """A judge run to start; the values are checked by the service."""

    judge = serializers.IntegerField(help_text="A judge id of this project.")
    tasks = serializers.JSONField(
        required=False,
        help_text='"all" (default), "unjudged", or {"include_gold", "min_judgments", "since", '
        '"unjudged"}.',
    )
    swap = serializers.JSONField(required=False, help_text="Judge in both orders (default true).")
    samples = serializers.JSONField(required=False, help_text="Calls per order (1-10, default 1).")
    max_calls = serializers.JSONField(
        required=False, help_text="The most model calls the run may make."
    )


class JudgeRunSerializer(serializers.ModelSerializer):
    """A judge run's progress: `done` and `total` count tasks, `calls` model calls."""

    class Meta:
        model = JudgeRun
        fields = [
            "id",
            "status",
            "done",
            "total",
            "calls",
            "tokens",
            "failures",
            "unparseable",
            "stopped",
            "judge",
            "tasks",
            "swap",
            "samples",
            "max_calls",
            "created_at",
            "started_at",
            "finished_at",
        ]
