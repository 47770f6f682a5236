"""The modules that own an outside system: Docker engine, registry, SMTP, files."""
