"""Layer 2: each CP/CPS as data (one folder per PKI) plus its loader and named rules."""
