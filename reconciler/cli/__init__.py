"""The command line: the one place that wires the registry's services into the engine, the
estate and the sandbox (``context``); a thin typer layer (``app``), the core command bodies
(``commands``), one plan or apply run (``runs``) and the one error handler (``handler``)."""
