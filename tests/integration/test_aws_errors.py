"""Every foreseeable AWS fault in words: building a client, and each kind of refusal."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, NoCredentialsError, ReadTimeoutError

from pmb_console.config import AwsConfig
from pmb_console.errors import ProviderError
from pmb_console.providers.aws import make_client, translate
from tests.fixtures.http import unblocked

pytestmark = pytest.mark.aws


def refused(code: str, status: int = 400, message: str = "said by AWS") -> ClientError:
    """The exception botocore raises when AWS answers with an error document."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "DescribeDBInstances",
    )


@pytest.mark.parametrize(
    ("code", "status", "message", "hint"),
    [
        (
            "ExpiredToken",
            400,
            "AWS credentials have expired (DescribeDBInstances on instance pmb-prod)",
            "refresh them",
        ),
        (
            "AccessDenied",
            403,
            "AWS denied DescribeDBInstances on instance pmb-prod: said by AWS",
            "needs permission for rds:DescribeDBInstances on instance pmb-prod",
        ),
        (
            "InvalidClientTokenId",
            403,
            "AWS rejected the credentials (DescribeDBInstances on instance pmb-prod: InvalidClientTokenId)",
            "check [aws] profile",
        ),
        (
            "Throttling",
            400,
            "AWS is throttling DescribeDBInstances on instance pmb-prod, still refused after 5 attempts",
            "wait a minute",
        ),
        (
            "DBInstanceNotFound",
            404,
            "instance pmb-prod does not exist (DescribeDBInstances: DBInstanceNotFound)",
            "check [database.rds] instance_id",
        ),
        (
            "InternalFailure",
            500,
            "AWS answered 500 InternalFailure to DescribeDBInstances on instance pmb-prod",
            "a fault on the AWS side",
        ),
        (
            "InvalidParameterCombination",
            400,
            "DescribeDBInstances on instance pmb-prod failed: InvalidParameterCombination: said by AWS",
            "read the AWS message",
        ),
    ],
)
def test_each_refusal_is_worded(code, status, message, hint):
    error = translate(
        refused(code, status),
        "DescribeDBInstances",
        "instance pmb-prod",
        iam_prefix="rds",
        missing_hint="check [database.rds] instance_id in the config",
    )
    assert isinstance(error, ProviderError)
    assert error.message == message
    assert hint in error.hint


def test_faults_before_any_answer_are_worded():
    assert translate(NoCredentialsError(), "DescribeListeners", "").message == (
        "no usable AWS credentials for DescribeListeners"
    )
    timeout = ReadTimeoutError(endpoint_url="https://elasticloadbalancing.eu-west-1.amazonaws.com/")
    assert translate(timeout, "DescribeListeners", "listener L").message == (
        "AWS did not answer DescribeListeners on listener L in time"
    )


def test_a_secret_in_an_aws_message_is_redacted():
    error = translate(refused("ValidationError", 400, "bad token=abc123 in request"), "X", "y")
    assert "abc123" not in str(error)


def test_an_unknown_profile_is_named(moto_aws):
    with pytest.raises(ProviderError) as caught:
        make_client(AwsConfig(region="eu-west-1", profile="no-such-profile"), "elbv2")
    assert caught.value.message == "AWS profile 'no-such-profile' is not defined"


def test_a_missing_region_is_named(moto_aws, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(ProviderError) as caught:
        make_client(AwsConfig(), "rds")
    assert caught.value.message == "no AWS region is configured for rds"
    assert "[aws] region" in caught.value.hint


def test_a_malformed_endpoint_url_is_named(moto_aws):
    with pytest.raises(ProviderError) as caught:
        make_client(AwsConfig(region="eu-west-1", endpoint_url="not a url"), "route53")
    assert "[aws] endpoint_url" in caught.value.hint


def test_clients_use_the_standard_retry_mode(moto_aws):
    client = make_client(AwsConfig(region="eu-west-1"), "logs")
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert client.meta.region_name == "eu-west-1"


class FailingAws:
    """A real HTTP server on 127.0.0.1 that answers every AWS call with a 500."""

    BODY = (
        b'<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        b"<Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>boom</Message></Error>"
        b"<RequestId>r1</RequestId></ErrorResponse>"
    )

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                self.send_response(500)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(FailingAws.BODY)))
                self.end_headers()
                self.wfile.write(FailingAws.BODY)

            def log_message(self, *args):
                return None

        self.httpd = unblocked(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_500_is_retried_then_worded(moto_aws, tmp_path):
    from pmb_console.providers.aws_alb import AlbRouter
    from tests.fixtures.moto import aws_config

    failing = FailingAws()
    try:
        arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/pmb/1/2"
        groups = {
            c: f"arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/pmb-{c}/1"
            for c in ("blue", "green")
        }
        cfg = aws_config(
            moto_aws,
            tmp_path,
            traffic={"provider": "alb", "alb": {"listener_arn": arn, "target_groups": groups}},
        )
        aws = cfg.aws.model_copy(update={"endpoint_url": failing.url})
        router = AlbRouter(cfg, client=make_client(aws, "elbv2", max_attempts=2))

        with pytest.raises(ProviderError) as caught:
            router.read()
    finally:
        failing.close()
    assert failing.requests == 2  # the standard retry mode tried once more
    assert (
        caught.value.message
        == f"AWS answered 500 InternalFailure to DescribeListeners on listener {arn}"
    )
