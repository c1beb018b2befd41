"""Layer 5: the ``porthos`` command, one module per command group."""
