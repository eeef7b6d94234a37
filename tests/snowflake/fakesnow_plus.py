"""fakesnow's HTTP server, plus what the tests need that ``fakesnow -s`` lacks.

Run as a script (a real server process the tests can kill)::

    python tests/snowflake/fakesnow_plus.py --port 8123 [--db-path DIR] [--rules rules.json]
        [--no-create-database] [--compat5]

* ``--db-path DIR``: keep databases in files under DIR, so a killed and restarted server still
  holds what it committed (``fakesnow -s`` keeps everything in memory).
* ``--no-create-database``: a session naming a database that does not exist gets none, as in
  Snowflake (fakesnow creates it by default).
* ``--rules FILE``: a JSON list of answers Snowflake gives and fakesnow never does. Each rule has
  ``when`` (``login`` or ``query``), a match (``user`` for a login, ``sql``, a regular expression,
  for a query), and either Snowflake's error (``code``, ``sqlstate``, ``message``: the response
  body Snowflake sends, e.g. ``390100`` for a wrong password, ``000606`` without a warehouse,
  ``003001`` without a privilege) or ``"action": "exit_after"``: run the statement, then kill the
  server before it answers (a lost response: the statement committed, the client never knew).
  ``times`` limits how often a rule fires (written back to the file, so a restarted server
  does not fire it again).
* ``--compat5``: fill in the login and PUT response fields that snowflake-connector-python 5.x
  requires and fakesnow 0.12 omits (``masterToken``, ``sessionId``, the stage's ``region``, and ``overwrite``
  as the PUT statement asked), so the 5.x connector can be tested against fakesnow too.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import fakesnow.server as fs
import uvicorn
from fakesnow.instance import FakeSnow

LOGIN = "/session/v1/login-request"
QUERY = "/queries/v1/query-request"


class Plus:
    """ASGI middleware around fakesnow's app applying the rules and the 5.x fields."""

    def __init__(
        self, app: Any, rules: list[dict[str, Any]], compat5: bool, rules_path: Path | None = None
    ) -> None:
        self.app = app
        self.rules = rules
        self.compat5 = compat5
        self.rules_path = rules_path

    def _match(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        for rule in self.rules:
            if rule.get("times", 1) <= 0:
                continue
            if path == LOGIN and rule["when"] == "login":
                hit = body.get("data", {}).get("LOGIN_NAME", "").upper() == rule["user"].upper()
            elif path == QUERY and rule["when"] == "query":
                hit = re.search(rule["sql"], body.get("sqlText", ""), re.I | re.S) is not None
            else:
                hit = False
            if hit:
                if "times" in rule:
                    rule["times"] -= 1
                    if self.rules_path is not None:  # a restarted server remembers what fired
                        self.rules_path.write_text(json.dumps(self.rules), encoding="utf-8")
                return rule
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in (LOGIN, QUERY):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        gzipped = dict(scope["headers"]).get(b"content-encoding") == b"gzip"
        request = json.loads(gzip.decompress(body) if gzipped else body)
        rule = self._match(scope["path"], request)
        if rule is not None and rule.get("action") != "exit_after":
            code = str(rule["code"])
            answer = {
                "data": {
                    "errorCode": code,
                    "sqlState": rule.get("sqlstate", "08001"),
                    "internalError": False,
                    "nextAction": None,
                },
                "code": code,
                "message": rule["message"],
                "success": False,
                "headers": None,
            }
            await self._respond(send, 200, json.dumps(answer).encode())
            return

        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        status, chunks = 200, []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        if rule is not None:  # exit_after: the statement ran; the answer is lost with the server
            os._exit(17)
        data = b"".join(chunks)
        if self.compat5:
            data = self._compat5(scope["path"], request, data)
        await self._respond(send, status, data)

    def _compat5(self, path: str, request: dict[str, Any], data: bytes) -> bytes:
        answer = json.loads(data)
        payload = answer.get("data")
        if not answer.get("success") or not isinstance(payload, dict):
            return data
        if path == LOGIN:
            payload.setdefault("masterToken", "fakesnow-master-token")
            payload.setdefault("validityInSeconds", 3600)
            payload.setdefault("masterValidityInSeconds", 14400)
            payload.setdefault("sessionId", 1)
        elif "stageInfo" in payload:
            payload["stageInfo"].setdefault("region", "us-central1")
            sql = request.get("sqlText", "")
            payload["overwrite"] = re.search(r"OVERWRITE\s*=\s*TRUE", sql, re.I) is not None
        return json.dumps(answer).encode()

    @staticmethod
    async def _respond(send: Any, status: int, data: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-path")
    parser.add_argument("--rules")
    parser.add_argument("--no-create-database", action="store_true")
    parser.add_argument("--compat5", action="store_true")
    args = parser.parse_args(argv)
    if args.db_path or args.no_create_database:
        fs.shared_fs = FakeSnow(
            db_path=args.db_path,
            create_database_on_connect=not args.no_create_database,
            create_schema_on_connect=not args.no_create_database,
        )
    rules = json.loads(Path(args.rules).read_text(encoding="utf-8")) if args.rules else []
    app = Plus(fs.app, rules, args.compat5, Path(args.rules) if args.rules else None)
    sys.stdout.write(f"fakesnow_plus listening on 127.0.0.1:{args.port}\n")
    sys.stdout.flush()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
