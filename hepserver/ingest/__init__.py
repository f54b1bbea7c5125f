"""Receiving HEP (UDP, TCP, TLS), turning packets into rows, and appending them to hyena."""
