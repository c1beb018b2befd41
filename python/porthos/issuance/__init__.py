"""Layer 1, the mechanism: CSR input, names, the batch pipeline, CRL building, signers,
verification.

No workspace, no SQL, no PKI names: an embedding CA passes its own key or signer,
template spec and serial source.
"""
