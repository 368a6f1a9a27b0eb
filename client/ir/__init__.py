"""The graph IR (`graph`), building and tracing graphs (`builder`)."""
