"""On-disk format: bytes and files only, no engine policy. The only package that touches the OS."""
