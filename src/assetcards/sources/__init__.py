"""Where cards come from and reading them: files, commit trees, the index, providers, the asset store."""
