from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("settings/shortcuts/", views.shortcuts_setting, name="shortcuts"),
    path("<slug:slug>/", views.project_start, name="project-start"),
    path("<slug:slug>/consent/", views.project_consent, name="project-consent"),
    path("<slug:slug>/instructions/", views.project_instructions, name="instructions"),
    path("<slug:slug>/task/", views.task_page, name="task"),
    path("<slug:slug>/finish/", views.project_finish, name="finish"),
    path("<slug:slug>/preview/", views.task_preview, name="preview"),
    path("<slug:slug>/progress/", views.project_progress_partial, name="progress"),
    path(
        "<slug:slug>/assignments/<int:assignment_id>/judgment/",
        views.judgment_post,
        name="judgment",
    ),
    path(
        "<slug:slug>/assignments/<int:assignment_id>/skip/",
        views.assignment_skip_post,
        name="skip",
    ),
    path(
        "<slug:slug>/assignments/<int:assignment_id>/renew/",
        views.assignment_renew_post,
        name="renew",
    ),
]
