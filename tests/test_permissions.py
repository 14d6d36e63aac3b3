"""Every admin route, walked from the app's own URL map: anonymous visitors are sent to log in,
agents are refused the admins' pages, and only the clients' public pages need no login."""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from tests.conftest import PASSWORD, csrf_token, signed_in
from web import create_app

PUBLIC = {"auth.login", "health.health", "metrics.metrics", "surveys.show", "surveys.answer",
          "surveys.unsubscribe", "static"}
ADMINS_ONLY = ("operations.", "admin.")


@pytest.fixture
def app(settings, cast):
    return create_app(settings, testing=True)


def routes(app):
    for rule in app.url_map.iter_rules():
        values = {name: 1 if isinstance(rule._converters[name], IntegerConverter) else "x"
                  for name in rule.arguments}
        path = rule.build(values)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def test_the_route_list_is_what_this_test_knows(app):
    endpoints = {endpoint for endpoint, _, _ in routes(app)}
    assert len(endpoints) > 30 and PUBLIC - {"static"} <= endpoints


def test_anonymous_visitors_are_sent_to_log_in_everywhere_but_the_public_pages(app):
    client = app.test_client()
    for endpoint, method, path in routes(app):
        if endpoint in PUBLIC:
            continue
        response = client.open(path, method=method)
        if method == "GET":
            assert response.status_code == 302 and "/login" in response.headers["Location"], (endpoint, path)
        else:  # refused before anything runs: no CSRF token, and no session either
            assert response.status_code in (302, 400), (endpoint, method, path, response.status_code)


def test_agents_are_refused_every_admin_page_and_action(app):
    bob = signed_in(app, "bob@example.com", PASSWORD)
    token = csrf_token(bob, "/")
    checked = 0
    for endpoint, method, path in routes(app):
        if not endpoint.startswith(ADMINS_ONLY):
            continue
        data = {"csrf_token": token} if method == "POST" else None
        assert bob.open(path, method=method, data=data).status_code == 403, (endpoint, method, path)
        checked += 1
    assert checked >= 8
    agnes = signed_in(app)  # an admin
    assert agnes.get("/agents").status_code == 200 and agnes.get("/status").status_code == 200
