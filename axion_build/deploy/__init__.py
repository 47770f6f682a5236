"""Deploy files: docker compose, Helm chart, supervisord, Caddy, rendered from templates."""
