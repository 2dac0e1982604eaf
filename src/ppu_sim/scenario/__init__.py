"""The scenario engine: YAML packs that decide, per request, what the provider answers."""
