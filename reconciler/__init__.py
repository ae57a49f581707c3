"""ispctl: ISP services as code. The layers: ``engine`` (generic), ``estate`` (the desired-state
language), ``views``, ``harness`` (daemons for tests and the sandbox), ``contract`` (all a
service may import) and ``cli`` (the wiring). Services live in ``ispctl.providers``."""

__version__ = "0.1.0"
