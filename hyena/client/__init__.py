"""A client for the Hyena server with the embedded engine's API:

    db = hyena.client.connect("ipc:///tmp/hyena.ipc")   # instead of hyena.open("data")
"""
from hyena.client.remote import RemoteDatabase, connect

__all__ = ["connect", "RemoteDatabase"]
