"""Provisioning: commands that edit the desired state as a careful engineer would.

An edit is data: each ``Operation`` (``mailbox.add``, ``tenant.suspend``, ``record.set``, ...)
is applied to one ``EditSession``, an in-memory view of the estate's files loaded round-trip
(comments, key order, quoting and layout kept). A single command and ``ispctl batch`` share
that one path: the session's files are written, the whole estate is validated, and on any
problem every file is put back exactly as it was; otherwise the change is optionally
committed. Services declare the objects they add to the files (``Editable``) through the
contract; nothing here names a service.
"""
