"""Benchmarks that print numbers (never run as tests). See bench/README.md."""
