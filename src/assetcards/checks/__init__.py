"""What to validate and reporting it: targets, against-sets, the parse cache, reports, hooks, scaffolds."""
