"""The original Hyena wire protocol: messages and their bincode encoding, without sockets."""
