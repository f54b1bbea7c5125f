"""The Hyena nanomsg server: the original wire protocol in front of the embedded engine."""
