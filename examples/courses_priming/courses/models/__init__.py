"""Model layer: cached reads by id, their priming functions, and thin model classes."""
