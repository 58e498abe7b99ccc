"""`extproc-router explain` and `status`: the control API from the command line.

`explain` runs a request through a config's rule chain locally (`--config`), or asks a running
router (`--router HOST:PORT`); `status` prints a running router's live state. Remote calls
send the control token (`--token-file`, else `EXTPROC_CONTROL_TOKEN`). Output is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from extproc.wire.control_auth import TOKEN_ENV

TIMEOUT_S = 10.0


def _body(args: argparse.Namespace) -> bytes:
    if args.body is not None:
        return Path(args.body).read_bytes()
    text = sys.stdin.read() if args.prompt == "-" else args.prompt
    doc = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    return json.dumps(doc).encode()


def _headers(items: list[str]) -> dict[str, str]:
    headers = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header wants NAME:VALUE, got {item!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        return Path(args.token_file).read_text(encoding="utf-8").strip()
    return os.environ.get(TOKEN_ENV) or None


def _call(args: argparse.Namespace, method: str, request: Any) -> Any:
    import grpc

    from extproc.api.v1 import control_pb2_grpc

    token = _token(args)
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(args.router) as channel:
        stub = control_pb2_grpc.RouterControlStub(channel)  # type: ignore[no-untyped-call]
        return getattr(stub, method)(request, metadata=metadata, timeout=TIMEOUT_S)


def _print(message: Any) -> None:
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))


def _fail(command: str, message: str) -> int:
    print(f"{command}: {message}", file=sys.stderr)
    return 2


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        body = _body(args)
        headers = _headers(args.header)
    except (OSError, ValueError) as exc:
        return _fail("explain", str(exc))
    if args.router:
        import grpc

        from extproc.api.v1 import control_pb2

        request = control_pb2.ExplainRequest(path=args.path, body=body, headers=headers)
        try:
            reply = _call(args, "Explain", request)
        except (grpc.RpcError, OSError) as exc:
            return _fail("explain", _rpc_error(exc))
        _print(reply)
        return 0
    from extproc.config import ConfigError, load_config
    from extproc.router import Router
    from extproc.wire.control import explain

    try:
        router = Router(load_config(args.config))
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    except ValueError as exc:  # e.g. a learned rule's model file
        return _fail("explain", str(exc))
    _print(explain(router, args.path, body, headers))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import grpc

    from extproc.api.v1 import control_pb2

    try:
        reply = _call(args, "GetState", control_pb2.GetStateRequest())
    except (grpc.RpcError, OSError) as exc:
        return _fail("status", _rpc_error(exc))
    _print(reply)
    return 0


def _rpc_error(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if callable(code) and callable(details):
        return f"{code().name}: {details()}"
    return str(exc)


def _remote_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token-file", metavar="FILE",
                   help=f"file holding the control token (default: ${TOKEN_ENV})")


def add_control_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    ex = subparsers.add_parser(
        "explain", help="the decision and each rule's verdict for a prompt (nothing recorded)",
        description="Run a request through the rule chain without routing or recording it: "
        "locally with --config (defaults when omitted), or on a running router with --router.",
    )
    ex.add_argument("prompt", nargs="?", default="", help="prompt text, or - for stdin")
    ex.add_argument("--body", metavar="FILE", help="a whole request body instead of a prompt")
    ex.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                    help="request header a rule reads (A/B key, override)")
    ex.add_argument("--path", default="/v1/chat/completions")
    where = ex.add_mutually_exclusive_group()
    where.add_argument("--config", help="router config to explain against, locally")
    where.add_argument("--router", metavar="HOST:PORT", help="a running router's gRPC address")
    _remote_options(ex)
    ex.set_defaults(func=cmd_explain)

    st = subparsers.add_parser("status", help="a running router's live state (tiers, bandits)")
    st.add_argument("--router", metavar="HOST:PORT", default="127.0.0.1:50051")
    _remote_options(st)
    st.set_defaults(func=cmd_status)
