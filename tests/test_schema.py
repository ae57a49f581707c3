"""The estate's language composed from the core models and the services' sections."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.estate.model import Section, Strict
from ispctl.reconciler.estate.schema import EstateSchema


class Colours(Strict):
    favourite: str = "blue"


class Motd(Strict):
    text: str


SITE_COLOURS = Section("site", "colours", Colours, default=Colours())
DOMAIN_MOTD = Section("domain", "motd", Motd)
MAILBOX_MOTD = Section("mailbox", "motd", Motd)
TENANT_SECRET = Section("tenant", "secret", Motd, required=True)
HASH = "{CRYPT}$6$rounds=1000$abcdefgh$" + "x" * 86


def test_sections_become_fields_of_their_file_read_back_typed() -> None:
    files = EstateSchema.build(sections=[SITE_COLOURS, DOMAIN_MOTD, MAILBOX_MOTD, TENANT_SECRET]).files
    site = files.site.model_validate({})
    assert site.section(SITE_COLOURS) == Colours() and not site.has_section(SITE_COLOURS)
    written = files.site.model_validate({"colours": {"favourite": "red"}})
    assert written.section(SITE_COLOURS).favourite == "red" and written.has_section(SITE_COLOURS)
    domain = files.domain.model_validate({"domain": "example.net", "mailboxes": {"anna": {"password": HASH,
                                                                                        "motd": {"text": "hi"}}}})
    assert domain.get_section(DOMAIN_MOTD) is None
    with pytest.raises(LookupError, match="no 'motd' section"):
        domain.section(DOMAIN_MOTD)
    assert domain.mailboxes["anna"].section(MAILBOX_MOTD) == Motd(text="hi")
    with pytest.raises(ValidationError, match="secret"):
        files.tenant.model_validate({"name": "Acme"})
    assert files.tenant.model_validate({"name": "Acme", "secret": {"text": "s"}}).section(TENANT_SECRET).text == "s"


def test_a_section_cannot_shadow_a_field_or_another_section() -> None:
    with pytest.raises(ConfigError, match="section 'motd'"):
        EstateSchema.build(sections=[DOMAIN_MOTD, DOMAIN_MOTD])
    with pytest.raises(ConfigError, match="section 'status'"):
        EstateSchema.build(sections=[Section("domain", "status", Motd)])
    with pytest.raises(ConfigError, match="section 'section'"):
        EstateSchema.build(sections=[Section("site", "section", Motd)])


def test_without_sections_the_core_models_are_used_as_they_are() -> None:
    files = EstateSchema.build().files
    with pytest.raises(ValidationError, match="colours"):
        files.site.model_validate({"colours": {}})
