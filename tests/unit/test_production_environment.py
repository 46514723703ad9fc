"""Which environments the console marks as production: one rule for every screen."""

from __future__ import annotations

import pytest

from pmb_console.config import is_production, parse_config


@pytest.mark.parametrize(
    "environment", ["production", "prod", "prd", "production-eu", "prod-us", "PRD-1", "live"]
)
def test_production_names_are_production(environment):
    assert is_production(environment)


@pytest.mark.parametrize("environment", ["staging", "preprod", "dev", "demo", "live-test", ""])
def test_other_names_are_not(environment):
    assert not is_production(environment)


def test_the_config_key_decides_over_the_name():
    marked = parse_config('[console]\nenvironment = "eu-blue"\nproduction = true\n')
    assert marked.console.is_production
    unmarked = parse_config('[console]\nenvironment = "prod-rehearsal"\nproduction = false\n')
    assert not unmarked.console.is_production


def test_unset_the_name_decides():
    assert parse_config('[console]\nenvironment = "prd"\n').console.is_production
    assert not parse_config('[console]\nenvironment = "staging"\n').console.is_production
