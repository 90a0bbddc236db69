from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from annotation import views as annotation_views
from api.docs import ApiDocsView
from ops import health, metrics

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="annotation:project-list"), name="home"),
    # Browsers ask for /favicon.ico whatever a page links; the icon is a static file.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.ico"))),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", annotation_views.signup, name="signup"),
    path("annotate/", include("annotation.urls")),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]

# Under /api/ a 404 or a 500 is JSON like every other API error; elsewhere Django's pages.
handler400 = "api.handlers.bad_request"
handler403 = "api.handlers.permission_denied"
handler404 = "api.handlers.not_found"
handler500 = "api.handlers.server_error"
