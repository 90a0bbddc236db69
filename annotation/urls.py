from django.urls import path

from annotation import arena_pages, views
from annotation.framing import frameable_by_mturk as framed

app_name = "annotation"

# The pages of an annotator's visit may be shown in MTurk's frame (ExternalQuestion HITs);
# every other page refuses to be framed (annotation.framing).
urlpatterns = [
    path("", framed(views.project_list), name="project-list"),
    path("settings/shortcuts/", views.shortcuts_setting, name="shortcuts"),
    path("settings/language/", views.language_setting, name="language"),
    path("<slug:slug>/", framed(views.project_start), name="project-start"),
    path("<slug:slug>/consent/", framed(views.project_consent), name="project-consent"),
    path("<slug:slug>/instructions/", framed(views.project_instructions), name="instructions"),
    path("<slug:slug>/survey/<str:when>/", framed(views.project_survey), name="survey"),
    path("<slug:slug>/task/", framed(views.task_page), name="task"),
    path("<slug:slug>/arena/", framed(arena_pages.arena_page), name="arena"),
    path(
        "<slug:slug>/arena/turns/<int:turn_id>/",
        framed(arena_pages.arena_turn_partial),
        name="arena-turn",
    ),
    path(
        "<slug:slug>/arena/turns/<int:turn_id>/vote/",
        framed(arena_pages.arena_vote),
        name="arena-vote",
    ),
    path("<slug:slug>/finish/", framed(views.project_finish), name="finish"),
    path("<slug:slug>/preview/", views.task_preview, name="preview"),
    path("<slug:slug>/progress/", views.project_progress_partial, name="progress"),
    path(
        "<slug:slug>/assignments/<int:assignment_id>/judgment/",
        framed(views.judgment_post),
        name="judgment",
    ),
    path(
        "<slug:slug>/assignments/<int:assignment_id>/skip/",
        framed(views.assignment_skip_post),
        name="skip",
    ),
    path(
        "<slug:slug>/assignments/<int:assignment_id>/renew/",
        views.assignment_renew_post,
        name="renew",
    ),
]
