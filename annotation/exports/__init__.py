"""Exports (README "Exports"), one module per step: `query` reads and checks the
parameters, `fields` declares each format's fields once, `plan` fixes a query's columns for
a project from that declaration, `readers` yield the rows (or, for `judgments` on
PostgreSQL, Arrow batches from COPY), `encoders` turn them into JSON Lines, CSV or Parquet
bytes (the only layer that encodes), and `card` writes a snapshot's dataset card.
Snapshots themselves are services (annotation/services/exporting.py)."""
