"""Reading the API's response envelope, and turning failures into the client's errors."""

from __future__ import annotations

from typing import Any

import httpx

from planner.cloudflare.errors import (
    APIError,
    AuthenticationError,
    CloudflareError,
    ConnectionFailedError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseMessage,
    ServerError,
    TransportError,
)
from planner.cloudflare.retry import parse_retry_after


def read_envelope(
    response: httpx.Response, method: str, path: str, connector_id: str | None
) -> dict[str, Any]:
    """Return the success envelope, or raise the error that the response stands for."""
    status = response.status_code
    cf_ray = response.headers.get("cf-ray")
    if 300 <= status < 400:
        # The API never redirects, and a redirected write may have been turned into a GET, so
        # a redirect is not followed and not retried.
        raise ProtocolError(
            f"the server redirected to {response.headers.get('location')!r}, which the API "
            "never does, so the base URL is probably wrong",
            status=status,
            cf_ray=cf_ray,
            unsure_write=False,
            method=method,
            path=path,
            connector_id=connector_id,
        )

    try:
        body = response.json()
    except ValueError:
        body = None

    if status >= 400:
        raise api_error(response, body, method, path, connector_id)

    if body is None:
        # A truncated or garbled 200 body is usually a proxy fault, and the request is
        # idempotent, so it is retried. Any other success status without JSON (204 No
        # Content, for example) is not one the API sends and would come back the same.
        raise ProtocolError(
            "the response body is not JSON",
            status=status,
            cf_ray=cf_ray,
            retryable=status == 200,
            method=method,
            path=path,
            connector_id=connector_id,
        )
    if not isinstance(body, dict) or "success" not in body:
        raise ProtocolError(
            "the response is not an API envelope (no 'success' field)",
            status=status,
            cf_ray=cf_ray,
            method=method,
            path=path,
            connector_id=connector_id,
        )
    if body["success"] is not True:
        errors = "; ".join(str(item) for item in read_messages(body.get("errors")))
        raise ProtocolError(
            f"the envelope reports success={body['success']!r}"
            + (f" with errors: {errors}" if errors else ""),
            status=status,
            cf_ray=cf_ray,
            method=method,
            path=path,
            connector_id=connector_id,
        )
    return body


def api_error(
    response: httpx.Response, body: Any, method: str, path: str, connector_id: str | None
) -> APIError:
    status = response.status_code
    envelope = body if isinstance(body, dict) else {}
    fields: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "errors": read_messages(envelope.get("errors")),
        "messages": read_messages(envelope.get("messages")),
        "connector_id": connector_id,
        "cf_ray": response.headers.get("cf-ray"),
    }
    if status in {401, 403}:
        return AuthenticationError(**fields)
    if status == 404:
        return NotFoundError(**fields)
    if status == 429:
        return RateLimitedError(
            retry_after=parse_retry_after(response.headers.get("retry-after")), **fields
        )
    if status >= 500:
        return ServerError(**fields)
    return InvalidRequestError(**fields)


def read_messages(value: Any) -> list[ResponseMessage]:
    """Read an `errors` or `messages` list, tolerating missing keys and odd entries."""
    if not isinstance(value, list):
        return []
    messages = []
    for item in value:
        if isinstance(item, dict):
            code = item.get("code")
            messages.append(
                ResponseMessage(
                    code=code if isinstance(code, int) and not isinstance(code, bool) else None,
                    message=str(item.get("message", "")),
                )
            )
        else:
            messages.append(ResponseMessage(code=None, message=str(item)))
    return messages


def transport_error(
    error: httpx.TransportError, method: str, path: str, connector_id: str | None
) -> TransportError:
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        return RequestTimeoutError(detail, method=method, path=path, connector_id=connector_id)
    return ConnectionFailedError(detail, method=method, path=path, connector_id=connector_id)


def describe_cause(error: CloudflareError) -> str:
    if isinstance(error, APIError):
        return f"HTTP {error.status} ({type(error).__name__})"
    if isinstance(error, TransportError):
        return error.detail
    return type(error).__name__
