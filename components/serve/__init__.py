"""Stage 7: serving registered models with Seldon Core (imports in the pipeline and serving environments)."""
