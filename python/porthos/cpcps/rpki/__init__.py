"""The Resource PKI (RFC 7382 template CPS, seeds/003) as data: rpki.toml, loaded and
checked by policy.py."""
