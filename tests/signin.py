"""Sign in to the dashboard as a browser does: fetch the form, post the token with the form's CSRF value."""

import re

CSRF = re.compile(r"name='csrf' value='([^']+)'")


def csrf_of(html: str) -> str:
    return CSRF.search(html)[1]


def sign_in(client, token: str):
    """Post ``token`` through the sign-in form with ``client`` (its cookies carry the session on)."""
    form = client.get("/ui/login")
    return client.post("/ui/login", data={"token": token, "csrf": csrf_of(form.text)}, follow_redirects=False)
