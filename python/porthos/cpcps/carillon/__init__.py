"""The Carillon PKI Certificate Policy v1.13 (seeds/001) as data: carillon.toml."""
