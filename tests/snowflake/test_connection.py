"""How a snowflake:// URL becomes a connection, and the one-line errors when Snowflake says no.

The URL and file tests need no server. The error tests use the real connector against
``fakesnow_plus`` servers, which answer the way Snowflake does where fakesnow cannot (a wrong
password, a missing warehouse, a missing privilege): those answers are Snowflake's own error
codes and messages, and the connector turns them into its exceptions as it would in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ats_sim.errors import ConfigError
from ats_sim.records import TELEMETRY, Batch
from sinks import TerminalSinkError, open_sink
from sinks.snowflake import apply_schema
from sinks.snowflake_conn import resolve_target
from sinks.url import parse_sink_url

pytestmark = pytest.mark.snowflake


def target_of(url: str) -> Any:
    return resolve_target(parse_sink_url(url), sink_options={"batch_records", "stage"})


def one_telemetry_batch(n: int = 3) -> Batch:
    cols: dict[str, Any] = {f.name: [0] * n for f in TELEMETRY.fields}
    cols.update(
        record_id=[f"r-{i}" for i in range(n)],
        record_type=["telemetry"] * n,
        schema_version=[1] * n,
        run_id=["run-1"] * n,
        line_id=["L1"] * n,
        timestamp=[1_700_000_000_000 + 10_000 * i for i in range(n)],
        train_id=["T-1"] * n,
        trip_id=["trip"] * n,
        status=["running"] * n,
        prev_station=["A"] * n,
        next_station=["B"] * n,
        chainage_m=[1.5] * n,
        latitude=[51.5] * n,
        longitude=[-0.1] * n,
        speed_kmh=[40.0] * n,
        acceleration_ms2=[0.1] * n,
        load_factor=[0.5] * n,
        total_weight_tons=[200.0] * n,
        power_draw_kw=[100.0] * n,
        energy_kwh=[1.0] * n,
        regen_energy_kwh=[0.1] * n,
        is_overcrowded=[False] * n,
        is_high_power_draw=[False] * n,
    )
    return Batch.from_columns(TELEMETRY, cols)


# -- URLs and configuration files ----------------------------------------------------------------


def test_url_names_user_account_database_schema_and_any_connector_parameter(password: str) -> None:
    """USER@ACCOUNT/DATABASE/SCHEMA, connector parameters typed from the query, sink options apart."""
    target, own = target_of(
        "snowflake://loader@xy12345.eu-central-1/ATS/RAW?warehouse=LOAD_WH&role=ATS_WRITER"
        "&host=127.0.0.1&port=8123&protocol=http&login_timeout=7&client_session_keep_alive=true"
        "&batch_records=5000"
    )
    assert dict(target.params) == {
        "account": "xy12345.eu-central-1",
        "user": "loader",
        "database": "ATS",
        "schema": "RAW",
        "warehouse": "LOAD_WH",
        "role": "ATS_WRITER",
        "host": "127.0.0.1",
        "port": 8123,
        "protocol": "http",
        "login_timeout": 7,
        "client_session_keep_alive": True,
    }
    assert own == {"batch_records": "5000"}
    assert dict(target.secrets) == {"password": password}
    assert password not in repr(target)
    assert target.describe() == (
        "snowflake://loader@xy12345.eu-central-1/ATS/RAW "
        "(warehouse LOAD_WH, role ATS_WRITER, via http://127.0.0.1:8123)"
    )


@pytest.mark.parametrize("key", ["password", "token", "private_key_file_pwd", "PASSCODE"])
def test_a_secret_in_the_url_is_refused_without_repeating_it(password: str, key: str) -> None:
    """Secrets belong in the environment or connections.toml; the refusal does not echo them."""
    with pytest.raises(ConfigError) as err:
        target_of(f"snowflake://u@acct/DB/S?{key}=TopSecretValue99")
    assert "TopSecretValue99" not in str(err.value)
    assert "SNOWFLAKE_PASSWORD" in str(err.value)
    with pytest.raises(ConfigError) as err2:
        open_sink("snowflake://u:TopSecretValue99@acct/DB/S")
    assert "TopSecretValue99" not in str(err2.value)


def test_named_connection_comes_from_connections_toml_in_snowflake_home(
    password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``?connection=NAME`` reads SNOWFLAKE_HOME/connections.toml; the URL overrides its values."""
    home = tmp_path / "sfhome"
    home.mkdir()
    (home / "connections.toml").write_text(
        '[dev]\naccount = "devacct"\nuser = "dev_user"\npassword = "FromTheFile-77"\n'
        'database = "DEVDB"\nschema = "RAW"\nwarehouse = "DEV_WH"\nport = 8123\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    target, _ = target_of("snowflake://?connection=dev")
    assert target.params["account"] == "devacct" and target.params["port"] == 8123
    assert dict(target.secrets) == {"password": "FromTheFile-77"}  # the file wins over the env
    assert f"connection 'dev' in {home / 'connections.toml'}" in target.describe()
    assert "FromTheFile-77" not in target.describe()

    overridden, _ = target_of("snowflake:///OTHERDB/STAGING?connection=dev&warehouse=BIG_WH")
    assert (overridden.database, overridden.schema, overridden.warehouse) == (
        "OTHERDB",
        "STAGING",
        "BIG_WH",
    )


def test_bare_url_uses_the_default_connection(
    password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``snowflake://`` alone: config.toml's default_connection_name, else [default]."""
    home = tmp_path / "sfhome"
    home.mkdir()
    (home / "connections.toml").write_text(
        '[default]\naccount = "a1"\nuser = "u1"\n[prod]\naccount = "a2"\nuser = "u2"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    assert target_of("snowflake://")[0].params["account"] == "a1"
    (home / "config.toml").write_text('default_connection_name = "prod"\n', encoding="utf-8")
    assert target_of("snowflake://")[0].params["account"] == "a2"
    with pytest.raises(
        ConfigError, match=r"no Snowflake connection named 'nope'.*it defines: default, prod"
    ):
        target_of("snowflake://?connection=nope")


def test_key_pair_from_the_environment_replaces_the_password(
    password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SNOWFLAKE_PRIVATE_KEY_FILE (+ _PWD) loads the key: SNOWFLAKE_JWT, no password sent."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "rsa_key.p8"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"Key-Passphrase-31"),
        )
    )
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_FILE", str(pem))
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_FILE_PWD", "Key-Passphrase-31")
    target, _ = target_of("snowflake://svc@acct/DB/S")
    assert set(target.secrets) == {"private_key"}
    assert target.params["authenticator"] == "SNOWFLAKE_JWT"
    loaded = serialization.load_der_private_key(target.secrets["private_key"], password=None)
    assert loaded.private_numbers() == key.private_numbers()  # type: ignore[union-attr]

    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_FILE_PWD", "Wrong-Passphrase-99")
    with pytest.raises(ConfigError) as err:
        target_of("snowflake://svc@acct/DB/S")
    assert "Wrong-Passphrase-99" not in str(err.value) and "passphrase" in str(err.value)
    monkeypatch.delenv("SNOWFLAKE_PRIVATE_KEY_FILE_PWD")
    with pytest.raises(ConfigError, match="is encrypted: set SNOWFLAKE_PRIVATE_KEY_FILE_PWD"):
        target_of("snowflake://svc@acct/DB/S")


def test_key_pair_login_reaches_the_server_though_fakesnow_does_not_verify_the_jwt(
    password: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fakesnow_port: int,
    database: str,
    url_for: Any,
) -> None:
    """The real connector signs a JWT with the loaded key and logs in (fakesnow accepts any JWT)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = tmp_path / "rsa_key.der"
    der.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.delenv("SNOWFLAKE_PASSWORD")
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_FILE", str(der))
    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    with open_sink(url) as sink:
        sink.write_batch(one_telemetry_batch())
    assert sink.stats.records == 3


def test_no_credentials_is_one_clear_line(password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a password, key or authenticator the message lists the three ways to give one."""
    monkeypatch.delenv("SNOWFLAKE_PASSWORD")
    with pytest.raises(ConfigError) as err:
        target_of("snowflake://u@acct/DB/S")
    assert "\n" not in str(err.value)
    assert "SNOWFLAKE_PASSWORD" in str(err.value) and "SNOWFLAKE_PRIVATE_KEY_FILE" in str(err.value)


# -- Snowflake says no: one line each, never retried -----------------------------------------------


def assert_one_clean_line(err: BaseException, password: str, *expected: str) -> None:
    text = str(err)
    assert "\n" not in text, text
    assert password not in text and password not in repr(err)
    for piece in expected:
        assert piece in text, text


def test_wrong_password_is_one_line_naming_the_user_and_the_fix(
    password: str, fakesnow_plus: Any, url_for: Any
) -> None:
    """Snowflake's 390100 at login becomes a terminal error; the password is not in it."""
    server = fakesnow_plus(
        [
            {
                "when": "login",
                "user": "ats_writer",
                "code": "390100",
                "message": "Incorrect username or password was specified.",
            }
        ]
    )
    with pytest.raises(TerminalSinkError) as err:
        open_sink(url_for(server.port, "ATS"))
    assert_one_clean_line(
        err.value,
        password,
        "refused the login of ats_writer",
        "incorrect username or password",
        "SNOWFLAKE_PASSWORD",
    )


def test_missing_database_is_one_line(password: str, fakesnow_plus: Any, url_for: Any) -> None:
    """A database that does not exist (fakesnow told not to create it on login) stops the sink."""
    server = fakesnow_plus(create_database=False, persistent=False)
    with pytest.raises(TerminalSinkError) as err:
        open_sink(url_for(server.port, "NO_SUCH_DB"))
    assert_one_clean_line(
        err.value, password, "database or schema NO_SUCH_DB.PUBLIC does not exist", "schema apply"
    )


def test_missing_raw_table_says_to_apply_the_schema(
    password: str, fakesnow_port: int, database: str, url_for: Any
) -> None:
    """A database without ATS_RAW_JSON: the error says how to create it."""
    with pytest.raises(TerminalSinkError) as err:
        open_sink(url_for(fakesnow_port, database))
    assert_one_clean_line(
        err.value, password, "table ATS_RAW_JSON does not exist", "ats-sim schema apply"
    )


def test_unknown_warehouse_is_one_line(password: str, fakesnow_plus: Any, url_for: Any) -> None:
    """USE WAREHOUSE on a warehouse that does not exist (fakesnow has none: Snowflake's answer)."""
    server = fakesnow_plus(
        [
            {
                "when": "query",
                "sql": r"^USE WAREHOUSE NO_SUCH_WH",
                "code": "002043",
                "sqlstate": "02000",
                "message": "SQL compilation error:\nObject does not exist, or operation cannot be performed.",
            }
        ]
    )
    with pytest.raises(TerminalSinkError) as err:
        open_sink(url_for(server.port, "ATS", warehouse="NO_SUCH_WH"))
    assert_one_clean_line(err.value, password, "warehouse NO_SUCH_WH does not exist", "USAGE")


def test_no_warehouse_at_load_time_is_one_line_and_not_retried(
    password: str, fakesnow_plus: Any, url_for: Any
) -> None:
    """Snowflake's 000606 (no active warehouse) on the COPY: terminal, no retry."""
    server = fakesnow_plus(
        [
            {
                "when": "query",
                "sql": r"^COPY INTO ATS_RAW_JSON",
                "code": "000606",
                "sqlstate": "57P03",
                "message": "No active warehouse selected in the current session.  "
                "Select an active warehouse with the 'use warehouse' command.\n",
            }
        ]
    )
    url = url_for(server.port, "ATS")
    apply_schema(url, roles=False)
    sink = open_sink(url, max_retries=3, retry_backoff_s=0.01)
    sink.write_batch(one_telemetry_batch())
    with pytest.raises(TerminalSinkError) as err:
        sink.flush()
    assert sink.stats.retries == 0
    assert_one_clean_line(
        err.value, password, "no usable warehouse while loading 3 records", "?warehouse=NAME"
    )


def test_missing_privilege_is_one_line_and_not_retried(
    password: str, fakesnow_plus: Any, url_for: Any
) -> None:
    """Snowflake's 003001 (insufficient privileges) on the COPY: terminal, naming the role."""
    server = fakesnow_plus(
        [
            {
                "when": "query",
                "sql": r"^COPY INTO ATS_RAW_JSON",
                "code": "003001",
                "sqlstate": "42501",
                "message": "SQL access control error:\nInsufficient privileges to operate on table 'ATS_RAW_JSON'",
            }
        ]
    )
    url = url_for(server.port, "ATS", role="ATS_READONLY")
    apply_schema(url, roles=False)
    sink = open_sink(url, max_retries=3, retry_backoff_s=0.01)
    sink.write_batch(one_telemetry_batch())
    with pytest.raises(TerminalSinkError) as err:
        sink.flush()
    assert sink.stats.retries == 0
    assert_one_clean_line(
        err.value,
        password,
        "role ATS_READONLY lacks a privilege",
        "Insufficient privileges to operate on table 'ATS_RAW_JSON'",
    )
