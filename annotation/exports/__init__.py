"""The export formats' one declaration of their fields (`fields`), from which the Arrow
schema, the dataset card's field list, the OpenAPI description and the README tables are
derived. The readers and encoders still live in annotation/selectors/exports.py and
annotation/services/exporting.py (issue 14 moves them here next)."""
