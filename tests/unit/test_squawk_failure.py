"""When squawk itself fails, its own words reach the operator, not the last line of the
stack trace it appends. Uses the real squawk binary on a file it cannot read."""

from __future__ import annotations

import pytest

from pmb_console.errors import ProviderError
from pmb_console.providers.squawk import find_squawk, run_squawk


def test_a_file_squawk_cannot_read_is_named_in_its_words(tmp_path):
    try:
        find_squawk()
    except ProviderError:
        pytest.skip("squawk is not installed")
    latin1 = tmp_path / "001_cafe.sql"
    latin1.write_bytes("CREATE TABLE t (n text DEFAULT 'café');\n".encode("latin-1"))

    with pytest.raises(ProviderError) as err:
        run_squawk([latin1], in_transaction=True)

    assert "stream did not contain valid UTF-8" in err.value.message
    assert "_start" not in err.value.message and "backtrace" not in err.value.message
