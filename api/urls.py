from django.urls import path

from api.views import (
    annotating,
    arena,
    crowd,
    endpoints,
    exports,
    imports,
    items,
    judges,
    judgments,
    profiles,
    projects,
    reports,
    snapshots,
    surveys,
    webhooks,
)

app_name = "api"

urlpatterns = [
    path("projects/", projects.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:slug>/", projects.ProjectDetailView.as_view(), name="project-detail"),
    path(
        "projects/<slug:slug>/progress/",
        projects.ProjectProgressView.as_view(),
        name="project-progress",
    ),
    path("projects/<slug:slug>/items/", items.ItemListView.as_view(), name="item-list"),
    path(
        "projects/<slug:slug>/crowd-sessions/",
        crowd.CrowdSessionListView.as_view(),
        name="crowd-session-list",
    ),
    path(
        "projects/<slug:slug>/survey/", surveys.SurveyAnswersView.as_view(), name="survey-answers"
    ),
    path(
        "projects/<slug:slug>/profiles/import/",
        profiles.ProfileImportView.as_view(),
        name="profile-import",
    ),
    path("projects/<slug:slug>/tasks/next/", annotating.NextTaskView.as_view(), name="task-next"),
    path("projects/<slug:slug>/arena/", arena.ArenaView.as_view(), name="arena"),
    path(
        "projects/<slug:slug>/arena/turns/<int:turn_id>/",
        arena.ArenaTurnView.as_view(),
        name="arena-turn",
    ),
    path(
        "projects/<slug:slug>/judgments/",
        judgments.JudgmentListView.as_view(),
        name="judgment-list",
    ),
    path("projects/<slug:slug>/export/", exports.ExportView.as_view(), name="export"),
    path(
        "projects/<slug:slug>/snapshots/",
        snapshots.SnapshotListView.as_view(),
        name="snapshot-list",
    ),
    path(
        "projects/<slug:slug>/snapshots/<int:snapshot_id>/",
        snapshots.SnapshotDetailView.as_view(),
        name="snapshot-detail",
    ),
    path(
        "projects/<slug:slug>/snapshots/<int:snapshot_id>/download/",
        snapshots.SnapshotDownloadView.as_view(),
        name="snapshot-download",
    ),
    path("projects/<slug:slug>/agreement/", reports.AgreementView.as_view(), name="agreement"),
    path(
        "projects/<slug:slug>/agreement/refresh/",
        reports.AgreementRefreshView.as_view(),
        name="agreement-refresh",
    ),
    path(
        "projects/<slug:slug>/leaderboard/", reports.LeaderboardView.as_view(), name="leaderboard"
    ),
    path(
        "projects/<slug:slug>/endpoints/",
        endpoints.EndpointListView.as_view(),
        name="endpoint-list",
    ),
    path(
        "projects/<slug:slug>/judges/",
        judges.JudgeListView.as_view(),
        name="judge-list",
    ),
    path(
        "projects/<slug:slug>/judges/<int:judge_id>/",
        judges.JudgeDetailView.as_view(),
        name="judge-detail",
    ),
    path(
        "projects/<slug:slug>/judge-runs/",
        judges.JudgeRunListView.as_view(),
        name="judge-run-list",
    ),
    path(
        "projects/<slug:slug>/judge-runs/<int:run_id>/",
        judges.JudgeRunDetailView.as_view(),
        name="judge-run-detail",
    ),
    path(
        "projects/<slug:slug>/endpoints/<int:endpoint_id>/",
        endpoints.EndpointDetailView.as_view(),
        name="endpoint-detail",
    ),
    path("webhooks/", webhooks.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<int:webhook_id>/", webhooks.WebhookDetailView.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:webhook_id>/deliveries/",
        webhooks.WebhookDeliveryListView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/resend/",
        webhooks.WebhookDeliveryResendView.as_view(),
        name="webhook-delivery-resend",
    ),
    path("imports/<int:job_id>/", imports.ImportJobDetailView.as_view(), name="import-detail"),
    path(
        "assignments/<int:assignment_id>/judgment/",
        annotating.JudgmentSubmitView.as_view(),
        name="judgment-submit",
    ),
    path(
        "assignments/<int:assignment_id>/renew/",
        annotating.AssignmentRenewView.as_view(),
        name="assignment-renew",
    ),
    path(
        "assignments/<int:assignment_id>/skip/",
        annotating.AssignmentSkipView.as_view(),
        name="assignment-skip",
    ),
]
