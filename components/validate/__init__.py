"""Stage 2: validate a dataset version (statistics, schema, skew and drift) with TFDV."""
