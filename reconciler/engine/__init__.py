"""The generic engine: resources, the provider contract, diff, plan, apply, scopes, gates,
saved plans, the audit trail and the one output module. It names no service and knows no
desired-state file: it is handed resources and providers."""
