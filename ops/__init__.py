"""Operations: health probes, Prometheus metrics, request-scoped logs (README, Observability)."""
