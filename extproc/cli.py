"""The `extproc-router` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence

from extproc.config import ConfigError, RouterConfig, load_config
from extproc.config.loader import with_server_overrides
from extproc.envoygen.cli import add_envoy_config_parser
from extproc.learn.collect import add_collect_parser
from extproc.learn.eval_cmd import add_eval_parser
from extproc.learn.train_cmd import add_train_parser
from extproc.replay.cli import add_replay_parser
from extproc.wire.control_client import add_control_parsers


def _load(path: str | None) -> RouterConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from extproc.observability.logs import setup_logging
    from extproc.serve import run

    updates = {}
    if args.listen:
        updates["listen"] = args.listen
    if args.admin_listen:
        updates["admin_listen"] = args.admin_listen
    if args.insecure_control:
        updates["control_auth"] = "none"
    try:
        config = with_server_overrides(_load(args.config), updates)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    setup_logging(args.log_level or config.logging.level)
    from extproc.wire.control_auth import ControlAuthError

    try:
        run(config, config_path=args.config, server_overrides=updates)
    except ControlAuthError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from extproc.decision.pipeline import build_pipeline

    try:
        pipeline = build_pipeline(config)
    except ValueError as exc:
        print(f"config error in {args.config}:\n  - {exc}", file=sys.stderr)
        return 2
    from extproc.config.warnings import config_warnings

    rules = ", ".join(rule.name for rule in pipeline.rules)
    print(f"{args.config}: OK ({len(config.tiers)} tiers; rules: {rules}; mode: {config.mode})")
    for warning in config_warnings(config):
        print(f"  warning: {warning}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from extproc.stack.up import Stack, StackPorts, envoy_values_for, run_up

    mode = "full"
    extra_envoy_values: dict[str, str] = {}
    if args.config:
        config = _load(args.config)  # fail fast with key-path errors
        mode = config.mode
        extra_envoy_values = envoy_values_for(config)
    envoy_config = args.envoy_config or ("fast.yaml" if mode == "fast" else "two-tier.yaml")
    ports = StackPorts(
        listen=args.port,
        envoy_admin=args.envoy_admin_port,
        router=args.router_port,
        router_admin=args.router_admin_port,
        tier_low=args.low_port,
        tier_high=args.high_port,
    )
    stack = Stack(
        ports=ports,
        router_config=args.config,
        envoy_template=envoy_config,
        failure_mode_allow=not args.fail_closed,
        extra_envoy_values=extra_envoy_values,
    )
    return run_up(stack)


def cmd_demo_upstreams(args: argparse.Namespace) -> int:
    from extproc.demo.upstream import UpstreamSpec, run_upstreams
    from extproc.observability.logs import setup_logging

    setup_logging("info")
    specs = [
        (UpstreamSpec("tier_low", "small-model", args.delay_ms), args.low_port),
        (UpstreamSpec("tier_high", "large-model", args.delay_ms), args.high_port),
    ]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_upstreams(specs, args.host))
    return 0


def _assignment(item: str) -> tuple[str, str]:
    """argparse type for VAR=VALUE."""
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"want VAR=VALUE, got {item!r}")
    return name, value


def cmd_render_envoy(args: argparse.Namespace) -> int:
    from extproc.config import ConfigError
    from extproc.stack.envoy import render_envoy

    try:
        sys.stdout.write(render_envoy(args.template, dict(args.set)))
    except (FileNotFoundError, ConfigError) as exc:
        print(f"render-envoy: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    if args.jsonl is not None:
        from extproc.learn.batch import score_jsonl
        from extproc.learn.scoring import scorer_for

        try:
            scorer = scorer_for(_load(args.config))
        except ValueError as exc:
            print(f"score: {exc}", file=sys.stderr)
            return 2
        source = sys.stdin.buffer if args.jsonl == "-" else None
        return score_jsonl(args.jsonl, scorer, sys.stdout, stdin=source)
    if args.text is None:
        print("score: give a prompt, - for stdin, or --jsonl FILE", file=sys.stderr)
        return 2
    from extproc.signals.complexity import DEFAULT_THRESHOLD, ComplexityScorer

    text = args.text if args.text != "-" else sys.stdin.read()
    result = ComplexityScorer().score(text)
    print(
        json.dumps(
            {
                "score": round(result.score, 4),
                "threshold": DEFAULT_THRESHOLD,
                "strong": result.score >= DEFAULT_THRESHOLD,
                "dimensions": {k: round(v, 4) for k, v in result.dimensions.items()},
            },
            indent=2,
        )
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(RouterConfig.model_json_schema(), indent=2))
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from extproc.config.reference import render_reference

    sys.stdout.write(render_reference())
    return 0


def version() -> str:
    """The installed distribution's version ("unknown" when run from a bare source tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("extproc-router")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extproc-router", description="Envoy ext_proc router for LLM traffic."
    )
    parser.add_argument("--version", action="version",
                        version=f"extproc-router {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the ext_proc gRPC server")
    serve.add_argument("--config", help="router YAML config (defaults when omitted)")
    serve.add_argument("--listen", help="override server.listen (HOST:PORT)")
    serve.add_argument("--admin-listen", help="override server.admin_listen (HOST:PORT)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--insecure-control", action="store_true",
                       help="control API without a token (the local demo stack only)")
    serve.set_defaults(func=cmd_serve)

    validate = sub.add_parser("validate", help="check a config; non-zero exit on error")
    validate.add_argument("config")
    validate.set_defaults(func=cmd_validate)

    up = sub.add_parser("up", help="start Envoy + router + demo upstreams on 127.0.0.1")
    up.add_argument("--config", help="router YAML config")
    up.add_argument(
        "--envoy-config",
        help="Envoy template in envoy/ (default: two-tier.yaml, or fast.yaml for mode: fast)",
    )
    up.add_argument("--port", type=int, default=10000, help="Envoy listener port")
    up.add_argument("--envoy-admin-port", type=int, default=9901)
    up.add_argument("--router-port", type=int, default=50051)
    up.add_argument("--router-admin-port", type=int, default=9464)
    up.add_argument("--low-port", type=int, default=8101)
    up.add_argument("--high-port", type=int, default=8102)
    up.add_argument(
        "--fail-closed",
        action="store_true",
        help="failure_mode_allow: false (requests fail while the router is down)",
    )
    up.set_defaults(func=cmd_up)

    demo = sub.add_parser("demo-upstreams", help="run the two demo OpenAI upstreams")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--low-port", type=int, default=8101)
    demo.add_argument("--high-port", type=int, default=8102)
    demo.add_argument("--delay-ms", type=float, default=0.0)
    demo.set_defaults(func=cmd_demo_upstreams)

    render = sub.add_parser("render-envoy", help="print an Envoy config with placeholders filled")
    render.add_argument("--template", default="two-tier.yaml")
    render.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                        type=_assignment)
    render.set_defaults(func=cmd_render_envoy)

    score = sub.add_parser(
        "score",
        help="a prompt's complexity breakdown; or, with --jsonl, score a batch as a config does",
    )
    score.add_argument("text", nargs="?", help="prompt text, or - for stdin")
    score.add_argument(
        "--jsonl", metavar="IN",
        help='batch mode: lines of {"prompt": ...} or chat/completions bodies (- for stdin); '
        'prints {"score", "tier"} per line, scored by the config\'s first learned or '
        "complexity rule",
    )
    score.add_argument("--config", help="router config for --jsonl (defaults when omitted)")
    score.set_defaults(func=cmd_score)

    schema = sub.add_parser("schema", help="print the config JSON schema")
    schema.set_defaults(func=cmd_schema)

    add_replay_parser(sub)
    add_collect_parser(sub)
    add_eval_parser(sub)
    add_train_parser(sub)
    add_control_parsers(sub)
    add_envoy_config_parser(sub)

    reference = sub.add_parser("config-reference", help="print the Markdown config reference")
    reference.set_defaults(func=cmd_config_reference)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
