"""In-memory state and policy of the engine; uses hyena.storage for every byte on disk."""
