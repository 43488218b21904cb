"""Stage 7: deployment by GitOps (overlay edits, rendering, promotion commits)."""
