"""HTTP dates: the three forms RFC 9110 allows, in ``Date`` and ``Retry-After``."""

from __future__ import annotations

import json

import pytest

import gameapi_async as ga
from gameapi_async._protocol import RawResponse, parse_http_date, parse_response, parse_retry_after

MOMENT = 784_111_777.0  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example
FORMS = {
    "imf-fixdate": "Sun, 06 Nov 1994 08:49:37 GMT",
    "rfc850": "Sunday, 06-Nov-94 08:49:37 GMT",
    "asctime": "Sun Nov  6 08:49:37 1994",
}


@pytest.mark.parametrize("form", FORMS)
def test_all_three_http_date_forms_are_read(form: str) -> None:
    assert parse_http_date(FORMS[form]) == MOMENT


@pytest.mark.parametrize("form", FORMS)
def test_retry_after_as_a_date_in_every_form(form: str) -> None:
    assert parse_retry_after(FORMS[form], now=MOMENT - 30) == 30.0
    error_body = json.dumps({"status": "error", "error": "busy", "message": "m"}).encode()
    with pytest.raises(ga.ApiError) as caught:
        parse_response(RawResponse(503, error_body, date=FORMS["imf-fixdate"].replace("37", "07"),
                             retry_after=FORMS[form]), now=0.0)
    assert caught.value.retry_after == 30.0  # measured from the answer's own Date


@pytest.mark.parametrize("form", FORMS)
def test_date_header_in_every_form_gives_the_server_time(form: str) -> None:
    body = json.dumps({"status": "success", "content": {"url": "https://x/"}}).encode()
    assert parse_response(RawResponse(200, body, date=FORMS[form]), now=0.0).server_time == MOMENT
    error_body = json.dumps({"status": "error", "error": "request_expired"}).encode()
    with pytest.raises(ga.RequestExpiredError) as caught:
        parse_response(RawResponse(400, error_body, date=FORMS[form]), now=0.0)
    assert caught.value.server_time == MOMENT


def test_rfc850_two_digit_years_follow_the_fifty_year_rule() -> None:
    import time

    this_year = time.gmtime().tm_year
    ahead = (this_year + 49) % 100  # 49 years ahead: still the future
    behind = (this_year + 51) % 100  # 51 years ahead: read as the past century
    near = parse_http_date(f"Monday, 01-Jan-{ahead:02d} 00:00:00 GMT")
    far = parse_http_date(f"Monday, 01-Jan-{behind:02d} 00:00:00 GMT")
    assert near is not None
    assert far is not None
    assert time.gmtime(near).tm_year == this_year + 49
    assert time.gmtime(far).tm_year == this_year + 51 - 100


def test_a_leap_second_is_read_as_the_second_before() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT") == MOMENT + 22


@pytest.mark.parametrize("value", [
    "Sun, 31 Feb 1994 08:49:37 GMT", "Sun Nov 36 08:49:37 1994", "Sun Nov  6 25:49:37 1994",
    "Sunday, 06-Nov-94 08:49:37", "yesterday", "Sun Nov  6 08:49:37",
    "Sun, 06 Nov 1994 08:49:61 GMT", "Sunday, 06-Nov-94 08:49:99 GMT", "Sun Nov  6 08:49:75 1994",
])
def test_impossible_or_partial_dates_are_not_read(value: str) -> None:
    assert parse_http_date(value) is None
