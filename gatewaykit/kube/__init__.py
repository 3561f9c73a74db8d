"""Kubernetes API machinery the sandbox's API server needs, pure (no I/O): server-side tables,
patches, selectors."""
