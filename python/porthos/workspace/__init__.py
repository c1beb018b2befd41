"""Layer 3: state on disk: Workspace, CertificateAuthority, CA generations, publication."""
