"""Shared fixtures. Each real part has its own module under tests/fixtures/."""

pytest_plugins: list[str] = [
    # one line per fixture module, e.g. "tests.fixtures.haproxy"
    "tests.fixtures.http",  # first: the others import its helpers
    "tests.fixtures.moto",
    "tests.fixtures.haproxy",
    "tests.fixtures.postgres",
]
