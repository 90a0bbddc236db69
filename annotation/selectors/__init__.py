"""Selectors: the reads shared by pages, API and admin."""
