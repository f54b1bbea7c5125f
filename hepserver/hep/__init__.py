"""HEP: decoding and encoding of Homer Encapsulation Protocol packets."""
