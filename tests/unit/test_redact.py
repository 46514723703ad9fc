from pmb_console.redact import redact


def test_url_passwords_are_hidden():
    assert redact("postgresql://app:s3cr3t@db:5432/pm") == "postgresql://app:***@db:5432/pm"


def test_keyword_dsn_passwords_are_hidden():
    said = redact("host=db user=app password=s3cr3t dbname=pm")
    assert "s3cr3t" not in said and "password=***" in said


def test_tokens_are_hidden():
    said = redact("Authorization: Bearer abc.def-ghi and token=xyz")
    assert "abc.def" not in said and "xyz" not in said


def test_plain_text_is_untouched():
    assert redact("switch to green: 100%") == "switch to green: 100%"
