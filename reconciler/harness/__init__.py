"""The harness that runs real daemons for the tests and ``ispctl sandbox``: one base for daemon
instances and the sandbox's orchestration of the services' components. Production code never
imports it; services' ``sandbox`` subpackages do."""
