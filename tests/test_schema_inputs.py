"""What services' compile hooks read outside the estate's files (``Service.inputs``), carried
into the schema (``EstateSchema.inputs``) and digested in one value (``inputs_key``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ispctl.providers.dns import dkim_inputs
from ispctl.providers.radius import dictionary_inputs
from ispctl.providers.registry import services
from ispctl.reconciler.contract import Catalog, Compiled, Registry, Service, SiteFile
from ispctl.reconciler.estate.schema import NamedInputs


def test_the_registry_schema_carries_every_services_inputs() -> None:
    inputs = services().schema.inputs
    assert [(named.service, named.inputs) for named in inputs] == [
        ("dns", dkim_inputs), ("radius", dictionary_inputs), ("opendkim", dkim_inputs)]


def _hook(catalog: Catalog) -> Compiled:
    return Compiled()


def test_a_shared_function_is_called_once_and_each_digest_is_delimited(tmp_path: Path) -> None:
    calls: list[str] = []

    def shared(site: SiteFile, env: Mapping[str, str]) -> bytes:
        calls.append("shared")
        return env.get("SHARED", "").encode()

    def own(site: SiteFile, env: Mapping[str, str]) -> bytes:
        calls.append("own")
        return env.get("OWN", "").encode()

    registry = Registry((Service("one", "", compile=_hook, inputs=shared), Service("two", "", inputs=shared),
                         Service("three", "", compile=_hook, inputs=own), Service("four", "", compile=_hook)))
    schema = registry.schema
    assert schema.inputs == (NamedInputs("one", shared), NamedInputs("two", shared), NamedInputs("three", own))
    site = schema.files.site.model_validate({})
    key = schema.inputs_key(site, {"SHARED": "ab", "OWN": "c"})
    assert calls == ["shared", "own"]
    assert key == schema.inputs_key(site, {"SHARED": "ab", "OWN": "c"})
    # A byte moved from one digest to the next is another key.
    assert key != schema.inputs_key(site, {"SHARED": "a", "OWN": "bc"})


def test_no_inputs_is_an_empty_key() -> None:
    schema = Registry((Service("one", "", compile=_hook),)).schema
    assert schema.inputs == ()
    assert schema.inputs_key(schema.files.site.model_validate({}), {}) == b""
