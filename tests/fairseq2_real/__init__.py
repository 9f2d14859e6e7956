"""A real fairseq2, in its own virtualenv, reading the roots `cards` writes."""
