"""Parsing and validating sink URLs such as ``duckdb:///data/ats.duckdb``.

A URL carries only non-secret settings; a password written into a URL is refused with a
message that says where secrets go instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from ats_sim.errors import ConfigError

__all__ = ["SECRET_KEYS", "SinkURL", "parse_sink_url"]

#: Query options that hold secrets: refused in URLs, whose text may reach logs and shells.
SECRET_KEYS = frozenset(
    {
        "password",
        "passcode",
        "token",
        "secret",
        "private_key",
        "private_key_file_pwd",
        "private_key_pwd",
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "oauth_client_secret",
        "sasl.oauthbearer.client.secret",
    }
)


#: Where each scheme's secrets go instead.
_SECRET_HOMES = {
    "snowflake": "SNOWFLAKE_PASSWORD, or SNOWFLAKE_PRIVATE_KEY_FILE (+ SNOWFLAKE_PRIVATE_KEY_FILE_PWD) "
    "for key-pair authentication, or a connection in ~/.snowflake/connections.toml",
    "kafka": "KAFKA_SASL_PASSWORD or a client properties file (?config=PATH)",
}


def _shown(url: str) -> str:
    """The URL without user info and query, safe to print whatever it held."""
    head, _, _ = url.partition("?")
    scheme, sep, rest = head.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


@dataclass(frozen=True)
class SinkURL:
    """A parsed sink URL: ``scheme://[user@]host[:port]/path?key=value``."""

    raw: str
    scheme: str
    host: str = ""
    port: int | None = None
    user: str = ""
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def option(self, name: str, default: str | None = None) -> str | None:
        """A query parameter, or ``default``."""
        return self.query.get(name, default)

    def int_option(self, name: str, default: int) -> int:
        """A query parameter that must be a whole number."""
        value = self.query.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(
                f"sink URL {self.redacted()!r}: {name}={value!r} is not a whole number"
            ) from None

    def float_option(self, name: str, default: float) -> float:
        """A query parameter that must be a number."""
        value = self.query.get(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigError(
                f"sink URL {self.redacted()!r}: {name}={value!r} is not a number"
            ) from None

    def redacted(self) -> str:
        """The URL as given (it never holds a secret: :func:`parse_sink_url` refuses those)."""
        return self.raw


def parse_sink_url(url: str, known: list[str] | None = None) -> SinkURL:
    """Parse ``url``; raise :class:`ConfigError` naming the problem and the fix."""
    if not isinstance(url, str) or "://" not in url:
        hint = f" (known schemes: {', '.join(s + '://' for s in known)})" if known else ""
        raise ConfigError(
            f"sink URL {url!r} has no scheme; expected e.g. duckdb:///data/ats.duckdb{hint}"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"sink URL {_shown(url)!r} is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if known is not None and scheme not in known:
        raise ConfigError(
            f"sink URL {url!r}: unknown scheme {scheme + '://'!r}; known: "
            + ", ".join(s + "://" for s in known)
        )
    if parts.password:
        # Never echo the URL: it holds the secret.
        raise ConfigError(
            f"a {scheme}:// sink URL must not contain a password; set it in the environment "
            "(e.g. SNOWFLAKE_PASSWORD) or the tool's own config file instead"
        )
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret = sorted({k for k, _ in pairs if k.lower() in SECRET_KEYS})
    if secret:
        raise ConfigError(
            f"a {scheme}:// sink URL must not contain {', '.join(secret)}; set it in "
            + _SECRET_HOMES.get(scheme, "the environment or the tool's own config file")
        )
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise ConfigError(f"sink URL {url!r}: option {key!r} is given twice")
        query[key] = value
    return SinkURL(
        raw=url,
        scheme=scheme,
        host=parts.hostname or "",
        port=port,
        user=unquote(parts.username or ""),
        path=unquote(parts.path),
        query=query,
    )
