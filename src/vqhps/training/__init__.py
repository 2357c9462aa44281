"""Training loops of the project's models (core: no stages, no MLflow)."""
