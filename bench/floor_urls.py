"""The product's URLs plus the benchmark floor view."""

from django.urls import include, path

from bench.floor_app import floor_insert

urlpatterns = [
    path("bench/floor/", floor_insert, name="bench-floor"),
    path("", include("config.urls")),
]
