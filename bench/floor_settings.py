"""config.settings, serving bench.floor_urls (the product's URLs plus the floor view)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
