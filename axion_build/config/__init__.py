"""The package config: schema, frozen model, loading with environment overrides, checks."""
