"""Layer 4: the RA, revocation, changeover and key export, built on a workspace."""
