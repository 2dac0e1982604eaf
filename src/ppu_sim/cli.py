"""Command line: ``ppu-sim serve`` and ``ppu-sim scenarios validate|list``."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ppu_sim import __version__
from ppu_sim.config import Settings, env, parse_tokens, parse_users
from ppu_sim.interface import spec
from ppu_sim.scenario.catalogue import describe_catalogue
from ppu_sim.scenario.loader import ScenarioError, builtin_pack_paths, load_packs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppu-sim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ppu-sim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the simulator")
    serve.add_argument("--host", default=env("HOST", "127.0.0.1"), help="address to listen on [PPU_SIM_HOST]")
    serve.add_argument("--port", type=int, default=int(env("PORT", "8080") or 8080), help="[PPU_SIM_PORT]")
    serve.add_argument(
        "--scenarios",
        nargs="*",
        type=Path,
        default=_env_paths(),
        metavar="PATH",
        help="extra scenario files or folders, after the built-in packs [PPU_SIM_SCENARIOS, ':'-separated]",
    )
    serve.add_argument(
        "--seed", type=int, default=int(env("SEED", "0") or 0), help="makes random choices repeatable [PPU_SIM_SEED]"
    )
    serve.add_argument("--users", default=env("USERS", ""), help="user:pass,... allowed (default: any) [PPU_SIM_USERS]")
    serve.add_argument("--tokens", default=env("TOKENS", ""), help="bearer tokens allowed [PPU_SIM_TOKENS]")
    serve.add_argument(
        "--strict",
        action="store_true",
        default=(env("STRICT", "") or "").lower() in ("1", "true", "yes"),
        help="reject numeric strings, unknown fields and non-v4 UUIDs [PPU_SIM_STRICT]",
    )
    serve.add_argument(
        "--hold-seconds",
        type=float,
        default=float(env("HOLD_SECONDS", "60") or 60),
        help="how long a 'hold' fault keeps a request (the client's timeout) [PPU_SIM_HOLD_SECONDS]",
    )
    serve.add_argument("--no-watch", action="store_true", help="do not reload scenario files when they change")
    serve.add_argument("--log-level", default=env("LOG_LEVEL", "info"), help="[PPU_SIM_LOG_LEVEL]")
    for name, kind, text in LIMITS:
        # A default from the environment is a string: argparse converts and checks it like the option.
        serve.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=env(name.upper()) or getattr(Settings, name),
            help=f"{text} [PPU_SIM_{name.upper()}]",
        )

    scenarios = commands.add_parser("scenarios", help="check or list scenario packs")
    sub = scenarios.add_subparsers(dest="action", required=True)
    validate = sub.add_parser("validate", help="check scenario files; non-zero exit on any problem")
    validate.add_argument("paths", nargs="+", type=Path)
    listing = sub.add_parser("list", help="print the loaded catalogue")
    listing.add_argument("--scenarios", nargs="*", type=Path, default=_env_paths(), metavar="PATH")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text}")
    return int(text)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0: {text}")
    return value


# Transport limits: (Settings field, type, help); each option also reads PPU_SIM_<FIELD>.
LIMITS = (
    ("max_body_bytes", positive_int, "largest request body; larger gets 413"),
    ("max_url_bytes", positive_int, "longest request target (path and query); longer gets 414"),
    ("max_headers", positive_int, "most header fields in one request; more gets 431"),
    ("max_header_bytes", positive_int, "largest size of all header fields together; larger gets 431"),
    ("header_timeout", positive_float, "seconds a client may take to send a request's headers; then 408"),
    ("body_timeout", positive_float, "seconds a client may take to send a request's body; then 408"),
    ("idle_timeout", positive_float, "seconds a connection may wait for its next request; then it is closed"),
    ("max_connections", positive_int, "most open connections; a new one past it gets 503"),
)


def _env_paths() -> list[Path]:
    raw = env("SCENARIOS", "") or ""
    return [Path(p) for p in raw.split(":") if p]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.action == "validate":
        return _validate(args.paths)
    try:
        return _list(args.scenarios, args.format)
    except BrokenPipeError:  # piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _serve(args: argparse.Namespace) -> int:
    from ppu_sim.transport.server import run  # imported late: validate/list need no web stack

    try:
        settings = Settings(
            host=args.host,
            port=args.port,
            scenario_paths=tuple(args.scenarios),
            seed=args.seed,
            users=parse_users(args.users),
            tokens=parse_tokens(args.tokens),
            strict=args.strict,
            hold_seconds=args.hold_seconds,
            watch=not args.no_watch,
            log_level=args.log_level,
            **{name: getattr(args, name) for name, _, _ in LIMITS},
        )
    except ValueError as exc:
        print(f"ppu-sim: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(settings)


def _validate(paths: Sequence[Path]) -> int:
    try:
        packs = load_packs(paths, spec.allowed_statuses())
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    count = sum(len(p.scenarios) for p in packs)
    print(f"ok: {len(packs)} pack(s), {count} scenario(s)")
    return 0


def _list(extra: Sequence[Path], fmt: str) -> int:
    try:
        packs = load_packs([*builtin_pack_paths(), *extra], spec.allowed_statuses())
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 1
    rows = describe_catalogue(packs)
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'PACK':<20} {'SCENARIO':<28} {'METERS':<18} SUMMARY")
    for row in rows:
        meters = ",".join(row["meterIds"]) or row["meterPattern"] or ("STS numbers" if row["meterSts"] else "any")
        print(f"{row['pack']:<20} {row['name']:<28} {meters:<18} {row['summary']}")
    return 0
