"""URLs with their credentials taken out, for everything kgsynth writes or logs.

An endpoint URL may carry a secret: `http://user:secret@host/v1` or `...?api_key=secret`.
The working URL stays in the in-memory config; build.json, dataset cards, Prefect's stored
flow-run parameters and log lines get `redact_url`'s form, which still names the endpoint.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

MASK = "***"

# query (or fragment) parameter names whose value is a credential, compared lower-cased with
# "-" read as "_"; a name containing one of _SECRET_PARTS counts too (x_amz_security_token,
# client_secret, subscription_key): masking a harmless value costs nothing, leaking one does
_SECRET_NAMES = frozenset({"sig", "pwd", "pass", "jwt", "sas", "code", "session", "sv_sig"})
_SECRET_PARTS = ("key", "token", "secret", "passw", "signature", "credential", "auth")

# userinfo: from the "//" after the scheme to the last "@" before the path, query or fragment
_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)[^/?#]*@")


def is_secret_param(name: str) -> bool:
    n = unquote_plus(name).strip().lower().replace("-", "_")
    return n in _SECRET_NAMES or any(part in n for part in _SECRET_PARTS)


def _redact_params(part: str) -> str:
    out = []
    for item in re.split(r"([&;])", part):  # keeps the separators, so the order survives
        name, eq, _ = item.partition("=")
        out.append(f"{name}={MASK}" if eq and is_secret_param(name) else item)
    return "".join(out)


def redact_url(url: str) -> str:
    """`url` with its userinfo and credential-like query or fragment values masked.

    String surgery rather than urlsplit/urlunsplit: it needs no valid URL (a malformed one
    is still masked, never raised on) and leaves every other character as the user wrote it.
    """
    url = _USERINFO.sub(rf"\g<1>{MASK}@", url, count=1)
    head, hash_, fragment = url.partition("#")
    base, q, query = head.partition("?")
    if q:
        head = base + q + _redact_params(query)
    return head + hash_ + (_redact_params(fragment) if hash_ else "")


def has_credentials(url: str) -> bool:
    """Whether `url` holds something `redact_url` masks."""
    return redact_url(url) != url
