"""How a request presents its API key, read once for the service and the workbench."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.web.keys import presented_key


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("headers", "as_basic", "key"), [
    ({"authorization": "Bearer gck_abc"}, False, "gck_abc"),
    ({"authorization": "bearer  gck_abc "}, False, "gck_abc"),
    ({"x-api-key": "gck_xyz"}, False, "gck_xyz"),
    ({"authorization": "Bearer gck_abc", "x-api-key": "gck_xyz"}, False, "gck_abc"),
    ({"authorization": "Bearer ", "x-api-key": "gck_xyz"}, False, "gck_xyz"),
    ({"authorization": basic("anna", "gck_pw")}, True, "gck_pw"),
    ({"authorization": basic("anna", "gck_pw")}, False, None),
    ({"authorization": basic("anna", "")}, True, None),
    ({"authorization": "Basic %%%"}, True, None),
    ({"authorization": "Token gck_abc"}, False, None),
    ({}, True, None),
])
def test_the_key_is_read_from_bearer_basic_or_x_api_key(headers, as_basic, key):
    assert presented_key(headers, basic=as_basic) == key


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1))
def test_any_bearer_token_comes_back_as_sent(token):
    assert presented_key({"authorization": f"Bearer {token}"}) == token
    assert presented_key({"authorization": basic("u", token)}, basic=True) == token
