# Security (issue 17): the dependency policy and pip-audit against both lock files.
# `make audit` exits 0 when no vulnerability service is reachable, after one line starting "audit NOT RUN";
# AUDIT_ARGS=--require-service makes that exit 3 instead (for a CI that must audit). Exit 1: vulnerabilities
# found; 2: the audit could not run. The offline half, the policy table against both locks, is also a unit
# test (tests/unit/security), so `make test` runs it.

AUDIT_ARGS ?=

.PHONY: audit dependency-policy

dependency-policy: $(ENV_STAMP) ## Check both lock files against security/dependency-policy.toml (offline).
	$(VENV)/bin/python -m security.dependency_policy

audit: $(ENV_STAMP) dependency-policy ## pip-audit both lock files where a vulnerability service answers (AUDIT_ARGS=--require-service: exit 3 when none does).
	$(VENV)/bin/python -m security.audit --uv $(UV) $(AUDIT_ARGS)
