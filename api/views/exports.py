"""The streamed export of a project's data (README "Exports")."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request

from annotation.db import stream_from_replica
from annotation.exports.encoders import export_stream
from annotation.exports.fields import openapi_description
from annotation.exports.plan import export_plan
from annotation.exports.query import (
    AVAILABLE_PAIR_LABELS,
    EXPORT_FILETYPES,
    EXPORT_FORMATS,
    QUERY_KEYS,
    RANKING_EXPANSIONS,
    export_query_from_params,
)
from api.permissions import IsResearcher, managed_project
from api.renderers import CONTENT_TYPES, file_stream_response
from api.strict import StrictAPIView


class ExportView(StrictAPIView):
    """Stream a dataset: judgments, DPO pairs, rubric scores, pair labels, items or
    annotators, as JSONL, CSV or Parquet, filtered by quality. Gzipped when the client
    sends Accept-Encoding: gzip."""

    permission_classes = [IsResearcher]
    query_parameters = {"GET": QUERY_KEYS}

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="judgments"),
            OpenApiParameter("filetype", str, enum=list(EXPORT_FILETYPES), default="jsonl"),
            OpenApiParameter(
                "min_agreement",
                float,
                description="dpo, rubric, kto: keep rows whose agreement is at least this "
                "(0 to 1).",
            ),
            OpenApiParameter(
                "min_judgments",
                int,
                description="Keep rows (tasks) with at least this many passing judgments.",
            ),
            OpenApiParameter("exclude_flagged", bool, default=True),
            OpenApiParameter("include_gold", bool, default=False),
            OpenApiParameter(
                "since",
                str,
                description="A judgment id or an ISO datetime (items: a datetime).",
            ),
            OpenApiParameter("annotator_kind", str, enum=["human", "model", "all"]),
            OpenApiParameter(
                "rubric_version",
                int,
                description="rubric: only judgments made under this rubric version (a version "
                "the project never had is a 400); without it one row per response and version.",
            ),
            OpenApiParameter(
                "label",
                str,
                enum=list(AVAILABLE_PAIR_LABELS),
                default="majority",
                description="dpo: what decides a pair, the majority of its votes, its "
                "Dawid-Skene label (agreement is then the label's posterior), a researcher's "
                "adjudication where there is one (else the majority), or hybrid (people's "
                "majority where people judged the pair, else the LLM judges' verdicts; each "
                "row's label_source says which). judgments take hybrid only: people's "
                "judgments, and the judges' verdicts on tasks no person judged.",
            ),
            OpenApiParameter(
                "include_rewrites",
                bool,
                default=False,
                description="dpo: also a row per annotator's rewrite, chosen over the response "
                "it replaces (chosen_model human_rewrite).",
            ),
            OpenApiParameter(
                "include_identity_leak",
                bool,
                default=False,
                description="Formats made from judgments: also the votes on tasks where an "
                "answer named its own model or vendor (flagged identity_leak; README, Arena "
                "safety), left out by default.",
            ),
            OpenApiParameter(
                "include_sensitive",
                bool,
                default=False,
                description="annotators: also the answers to survey questions marked sensitive "
                "(their survey.<key> columns are left out otherwise); judgments: allows "
                "sensitive keys in with_profile.",
            ),
            OpenApiParameter(
                "with_profile",
                str,
                description="judgments: survey keys, comma-separated (age_band,country): each "
                "annotator's latest answer joined as a profile.<key> column, typed by the "
                "question; an unknown key, or a sensitive one without include_sensitive=true, "
                "is a 400 naming it.",
            ),
            OpenApiParameter(
                "expand",
                str,
                enum=list(RANKING_EXPANSIONS),
                default="adjacent",
                description="dpo of a ranking project: which pairs each ranking gives, its "
                "adjacent places, all pairs, or its first group against its last (a 400 on "
                "other projects).",
            ),
        ],
        responses={
            (200, content_type.split(";")[0]): OpenApiResponse(
                OpenApiTypes.BINARY, description=openapi_description()
            )
            for content_type in CONTENT_TYPES.values()
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = managed_project(request.user, slug)
        query = export_query_from_params(request.query_params)
        plan = export_plan(project=project, query=query)
        return file_stream_response(
            request=request,
            # Its rows from the read replica when there is one (README, Running at scale).
            chunks=stream_from_replica(lambda: export_stream(plan=plan)),
            filetype=query.filetype,
            filename=plan.filename,
        )
