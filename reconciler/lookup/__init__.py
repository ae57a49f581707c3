"""The helpdesk's read commands: show, list, find and the usage report (issue 15).

Everything here reads the validated estate (the catalog and the resources it compiles to) and,
when a command is connected, the live state the plan's providers read in bulk; it names no
service: the services' columns come from their ``UsagePart`` (``contract``), handed in by the
command line. Secrets (a resource's ``sensitive`` attributes) are masked in every output.

Modules: ``kinds`` (the nouns people type -> resource kinds and keys), ``find`` (what holds or
points to an address), ``objects`` (one object, git beside live), ``listing`` (rows of a kind),
``usage`` (per tenant: counts, quota allocated and used, limits), ``live`` (one bulk or narrowed
read), ``table`` (text tables and CSV).
"""
