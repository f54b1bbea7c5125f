"""HEP capture daemon storing into hyena."""
