"""What every AWS provider shares: one way to build a client, one way to word a fault.

boto3 is imported here and only here-down, so a console on HAProxy never pays for it.
Credentials come from the standard chain (profile, environment, instance role); this
module never reads, stores or prints them. Every botocore error is turned into a
`ProviderError` naming the API call, the resource and what to do, and every message
passes through `redact` before anyone sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from pmb_console.config import AwsConfig
from pmb_console.errors import ProviderError
from pmb_console.redact import redact

MAX_ATTEMPTS = 5
"""botocore's standard retry mode: throttling and 5xx are retried this many times in all."""

_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidAccessKeyId",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "PriorRequestNotComplete",
    "SlowDown",
}
# Codes that mean "no such thing" but do not end in NotFound.
_MISSING = {"NoSuchHostedZone", "ResourceNotFoundException", "InvalidChangeBatch.NotFound"}


def make_client(aws: AwsConfig, service: str, *, max_attempts: int = MAX_ATTEMPTS) -> Any:
    """A boto3 client for `service` from `[aws]`: profile, region, endpoint_url."""
    config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra="pmb-console",
    )
    try:
        session = boto3.session.Session(
            profile_name=aws.profile or None, region_name=aws.region or None
        )
        return session.client(service, endpoint_url=aws.endpoint_url or None, config=config)
    except ProfileNotFound:
        raise ProviderError(
            f"AWS profile {aws.profile!r} is not defined",
            "set [aws] profile to a profile in ~/.aws/config, or leave it empty for the default chain",
        ) from None
    except NoRegionError:
        raise ProviderError(
            f"no AWS region is configured for {service}",
            "set [aws] region in the config (or AWS_REGION in the environment)",
        ) from None
    except ValueError as exc:  # a malformed endpoint_url
        raise ProviderError(
            redact(f"cannot build the AWS {service} client: {exc}"),
            "check [aws] endpoint_url (leave it empty to talk to AWS itself)",
        ) from None


class AwsApi:
    """One boto3 client whose every call comes back as data or as a worded ProviderError.

    `missing_hint` says, for this provider, which config key names the thing that was
    not found (a listener, a hosted zone, an instance).
    """

    def __init__(self, client: Any, missing_hint: str = "") -> None:
        self.client = client
        self.missing_hint = missing_hint

    @property
    def iam_prefix(self) -> str:
        """The service's prefix in IAM actions (elbv2 signs as elasticloadbalancing)."""
        return str(self.client.meta.service_model.signing_name)

    def call(self, operation: str, resource: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self.translate(exc, operation, resource) from None

    def pages(self, operation: str, resource: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated call, each translated like `call`."""
        try:
            yield from self.client.get_paginator(operation).paginate(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self.translate(exc, operation, resource) from None

    def translate(self, exc: Exception, operation: str, resource: str) -> ProviderError:
        # DescribeDBSnapshots, not DescribeDbSnapshots: the name IAM policies use.
        api_name = self.client.meta.method_to_api_mapping.get(operation, operation)
        return translate(
            exc, api_name, resource, iam_prefix=self.iam_prefix, missing_hint=self.missing_hint
        )


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_throttled(exc: Exception) -> bool:
    return error_code(exc) in _THROTTLED


def translate(
    exc: Exception,
    operation: str,
    resource: str,
    *,
    iam_prefix: str = "",
    missing_hint: str = "",
) -> ProviderError:
    """A botocore fault as a ProviderError: what failed, on what, and what to do."""
    call = _api_name(operation)
    on = f" on {resource}" if resource else ""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        said = str(exc.response.get("Error", {}).get("Message", "")).strip()
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _EXPIRED:
            return _error(
                f"AWS credentials have expired ({call}{on})",
                "refresh them (for example `aws sso login`, or a new session token) and retry",
            )
        if code in _DENIED:
            action = f"{iam_prefix}:{call}" if iam_prefix else call
            return _error(
                f"AWS denied {call}{on}: {said or code}",
                f"the identity in use needs permission for {action} on {resource or 'this resource'}",
            )
        if code in _BAD_CREDENTIALS:
            return _error(
                f"AWS rejected the credentials ({call}{on}: {code})",
                "check [aws] profile and the AWS_* variables in the environment",
            )
        if code in _THROTTLED:
            return _error(
                f"AWS is throttling {call}{on}, still refused after {MAX_ATTEMPTS} attempts",
                "wait a minute and retry; something else may be calling the same API",
            )
        if code.endswith("NotFound") or code.endswith("NotFoundFault") or code in _MISSING:
            return _error(
                f"{resource or 'the resource'} does not exist ({call}: {code})",
                missing_hint or "check the identifiers in the config",
            )
        if status >= 500:
            return _error(
                f"AWS answered {status} {code} to {call}{on}",
                "a fault on the AWS side; retry in a minute and check the AWS Health Dashboard",
            )
        return _error(f"{call}{on} failed: {code}: {said}", "read the AWS message above")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return _error(
            f"no usable AWS credentials for {call}",
            "set [aws] profile, or AWS_PROFILE / AWS_ACCESS_KEY_ID in the environment, "
            "or run where an instance role is available",
        )
    if isinstance(exc, NoRegionError):
        return _error(f"no AWS region is configured for {call}", "set [aws] region in the config")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return _error(
            f"cannot reach the AWS endpoint for {call}{on}: {exc}",
            "check the network, [aws] region and [aws] endpoint_url",
        )
    if isinstance(exc, ReadTimeoutError):
        return _error(
            f"AWS did not answer {call}{on} in time",
            "retry; if it persists, check the network path to AWS",
        )
    return _error(
        f"{call}{on} failed: {type(exc).__name__}: {exc}", "retry; if it persists, report it"
    )


def _api_name(operation: str) -> str:
    """describe_listeners → DescribeListeners, the name IAM and CloudTrail use."""
    if "_" not in operation and operation[:1].isupper():
        return operation
    return "".join(part.capitalize() for part in operation.split("_"))


def _error(message: str, hint: str) -> ProviderError:
    return ProviderError(redact(message), redact(hint))
