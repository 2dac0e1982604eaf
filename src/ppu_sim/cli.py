"""Command line: `ppu-sim serve`, `ppu-sim scenarios validate|list`, `ppu-sim token decode|encode`,
and the control API's readers (`journal`, `transactions`, `report`).

Every `serve` option can also come from the environment as PPU_SIM_<OPTION> (`--hold-seconds`
is PPU_SIM_HOLD_SECONDS): the variable is derived from the option's name, so an option added
later has one too, and a bad value in a variable is refused exactly like the same option typed
on the command line. The command line wins over the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from ppu_sim import __version__
from ppu_sim.config import ENV_PREFIX, SESSION_MODES, Settings, parse_duration, parse_tokens, parse_users
from ppu_sim.interface import spec
from ppu_sim.scenario.catalogue import describe_catalogue
from ppu_sim.scenario.loader import ScenarioError, builtin_pack_paths, load_packs
from ppu_sim.scenario.model import StsSpec
from ppu_sim.sts import codec
from ppu_sim.sts.describe import describe
from ppu_sim.sts.identity import DEFAULT_VENDING_KEY_HEX, parse_vending_key
from ppu_sim.sts.layout import TokenCrcError
from ppu_sim.sts.tid import tid_of
from ppu_sim.sts.vendor import HAND_KINDS, hand_token

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
DESCRIPTION = "A contract-testing mock provider for the Electrum Prepaid Utility Service Interface v3."


class UsageError(Exception):
    """A bad option or variable: reported on one line, exit status 2."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class _Parser(argparse.ArgumentParser):
    """Errors on one line; with env_prefix, every option can also be set by <env_prefix><OPTION>."""

    def __init__(self, *args: Any, env_prefix: str = "", **kwargs: Any) -> None:
        self.env_prefix = env_prefix
        self.env_options: list[argparse.Action] = []
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if self.env_prefix and action.option_strings and action.dest != "help":
            action.env_variable = self.env_prefix + action.dest.upper()  # type: ignore[attr-defined]
            self.env_options.append(action)
        return action

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        if "-h" in words or "--help" in words:  # help even when a variable is bad
            return super().parse_known_args(words, namespace)
        # The environment's options go first, so the command line wins.
        return super().parse_known_args([*self._environment_words(), *words], namespace)

    def _environment_words(self) -> list[str]:
        """The options the environment sets, as command-line words; a bad value is a UsageError."""
        words: list[str] = []
        for action in self.env_options:
            variable: str = action.env_variable  # type: ignore[attr-defined]
            if variable not in os.environ:
                continue
            value = os.environ[variable]
            shown = "<hidden>" if getattr(action, "secret", False) else repr(value)
            flag = action.option_strings[0]
            if action.nargs == 0:  # a switch
                if value.strip().lower() not in (*_TRUE, *_FALSE):
                    raise UsageError(f"{self.prog}: {variable}={shown}: expected 1/0, true/false, yes/no or on/off")
                option = [flag] if value.strip().lower() in _TRUE else []
            elif action.nargs == "*":
                option = [flag, *(p for p in value.split(os.pathsep) if p)]
            else:
                option = [f"{flag}={value}"]
            try:  # this value alone, so the message names its variable
                argparse.ArgumentParser.parse_known_args(self, option)
            except UsageError as exc:
                raise UsageError(f"{self.prog}: {variable}={shown}: {exc.reason}") from None
            words += option
        return words

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)", message)


class _Help(argparse.HelpFormatter):
    """Shows each option's default, and the variable that can set it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.nargs != 0 and action.default not in (None, "", []):
            text += " (default: %(default)s)"
        variable = getattr(action, "env_variable", None)
        return f"{text} [{variable}]" if variable else text


_SUBPARSER = partial(_Parser, formatter_class=_Help)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="ppu-sim", description=DESCRIPTION, formatter_class=_Help)
    top.add_argument("--version", action="version", version=f"ppu-sim {__version__}", help="print the version and exit")
    commands = _choice_of(top, "command")
    _add_serve(commands)
    _add_scenarios(commands)
    _add_token(commands)
    _add_control(commands)
    return top


def _choice_of(parent: argparse.ArgumentParser, dest: str) -> Any:
    """A required choice of subcommands, whose parsers share the help and error handling."""
    return parent.add_subparsers(
        dest=dest,
        required=True,
        metavar=dest.upper(),
        title=f"{dest}s",
        help=f"one of these ({dest.upper()} --help for more)",
        parser_class=_SUBPARSER,
    )


def _add_serve(commands: Any) -> None:
    """Each option added here gets its PPU_SIM_ variable, and needs a row in the README's table."""
    serve = commands.add_parser(
        "serve",
        env_prefix=ENV_PREFIX,
        help="start the simulator",
        description="Serve the interface with the built-in scenario packs, and yours. Every option can also be "
        f"set by the environment variable shown in brackets ({ENV_PREFIX}<OPTION>); the command line wins.",
    )
    serve.add_argument("--host", default=Settings.host, help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=_port, default=Settings.port, help="TCP port to listen on")
    serve.add_argument(
        "--scenarios",
        nargs="*",
        type=Path,
        default=[],
        metavar="PATH",
        help="your scenario files or folders of *.yaml, loaded after the built-in packs (which they "
        f"override) and reloaded when they change; in the variable, '{os.pathsep}'-separated",
    )
    serve.add_argument("--seed", type=int, default=Settings.seed, help="makes every random choice repeatable")
    serve.add_argument(
        "--users",
        type=_users,
        default="",
        metavar="USER:PASS,...",
        help="the only Basic credentials accepted (default: any user and password)",
    )
    serve.add_argument(
        "--tokens",
        type=parse_tokens,
        default="",
        metavar="TOKEN,...",
        help="the only Bearer tokens accepted once --users is set (default: any token)",
    )
    serve.add_argument(
        "--strict", action="store_true", help="refuse numeric strings, unknown fields and non-v4 UUIDs (a 400)"
    )
    serve.add_argument(
        "--hold-seconds",
        type=_seconds,
        default=Settings.hold_seconds,
        metavar="SECONDS",
        help="how long a 'hold' fault keeps a request: set it to your client's timeout",
    )
    serve.add_argument(
        "--retention",
        type=_count,
        default=Settings.retention,
        metavar="N",
        help="purchases, key changes, request ids of each kind and events a session remembers; the oldest "
        "past N are forgotten, as if never seen (0: remember everything)",
    )
    serve.add_argument("--no-watch", action="store_true", help="do not reload scenario files when they change")
    serve.add_argument(
        "--no-fast-path",
        action="store_true",
        help="send every request through Connexion's full per-request stack (slower; the same answers)",
    )
    serve.add_argument(
        "--sessions",
        choices=SESSION_MODES,
        default=Settings.sessions,
        help="what names a request's session: the X-PPU-Session header (else the Basic user), the user "
        "alone, or off (one session for all)",
    )
    serve.add_argument(
        "--session-ttl",
        type=_duration,
        default=Settings.session_ttl,
        metavar="SECONDS",
        help="idle time after which a session is forgotten (90, 15m, 1h)",
    )
    serve.add_argument(
        "--max-sessions",
        type=_whole,
        default=Settings.max_sessions,
        metavar="N",
        help="most sessions kept at once; the oldest idle one goes first",
    )
    serve.add_argument(
        "--journal-size",
        type=_whole,
        default=Settings.journal_size,
        metavar="N",
        help="exchanges kept per session; the oldest go first",
    )
    serve.add_argument(
        "--admin-token",
        default="",
        metavar="TOKEN",
        help="the bearer token the control API (/sim/) requires (default: none; open)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=Settings.log_level,
        help="least severe log lines shown",
    )
    for name, kind, text in LIMITS:
        serve.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(Settings, name), help=text)
    vending_key = serve.add_argument(
        "--vending-key",
        type=_vending_key,
        default=DEFAULT_VENDING_KEY_HEX,
        metavar="HEX",
        help="the 160-bit STS vending key (40 hex digits) that STS meters' keys come from; DKGA02 meters use its "
        "first 64 bits (the default is the public STS test key)",
    )
    vending_key.secret = True  # type: ignore[attr-defined]  # never echoed, not even when refused


def _add_control(commands: Any) -> None:
    """`journal` and `transactions`: a running simulator's control API, read at a terminal."""
    journal = commands.add_parser(
        "journal",
        help="print what a PoS sent to a running simulator, one line per exchange",
        description="Print a session's exchanges: time, session, operation, ids, status, errorType, scenario, "
        "fault. Colour on a terminal, plain when piped.",
    )
    transactions = commands.add_parser(
        "transactions",
        help="print the reconciliation table of a running simulator",
        description="Print one row per purchase of a session: its state, amounts, retries and advices.",
    )
    report = commands.add_parser(
        "report",
        help="judge a PoS: the referee's verdicts on a session (exit 1 when an error-severity rule failed)",
        description="Judge a session's journal against the referee's rules (docs/referee.md) and, with --plan, "
        "report a certification plan's progress. Prints a summary; exits 1 when an error-severity rule failed, "
        "so a CI step fails on it.",
    )
    for sub in (journal, transactions, report):
        sub.add_argument(
            "--url",
            default=os.environ.get(f"{ENV_PREFIX}URL", "http://127.0.0.1:8080"),
            help=f"the simulator [{ENV_PREFIX}URL]",
        )
        sub.add_argument("--session", default="default", help="whose exchanges")
        sub.add_argument(
            "--admin-token",
            default=os.environ.get(f"{ENV_PREFIX}ADMIN_TOKEN", ""),
            help=f"the control API's bearer token, if it has one [{ENV_PREFIX}ADMIN_TOKEN]",
        )
    journal.add_argument("--follow", "-f", action="store_true", help="keep printing exchanges as they complete")
    journal.add_argument("--format", choices=("text", "json"), default="text", help="json: one object per line")
    transactions.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output form")
    report.add_argument("--plan", help="a shipped plan (electrum-certification) or a plan file")
    report.add_argument("--junit", type=Path, metavar="FILE", help="also write the verdicts as JUnit XML")
    report.add_argument("--html", type=Path, metavar="FILE", help="also write the report as one HTML page")
    report.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    report.add_argument(
        "--confirmations",
        choices=("expected", "not-expected"),
        help="whether the provider expects confirmations (default: the plan's expectConfirmations, else not)",
    )
    report.add_argument(
        "--offline",
        type=Path,
        metavar="JOURNAL.json",
        help="judge a saved journal (GET /sim/journal, or `ppu-sim journal --format json`) without a server",
    )


def _add_scenarios(commands: Any) -> None:
    scenarios = commands.add_parser(
        "scenarios", help="check or list scenario packs", description="Check or list scenario packs."
    )
    sub = _choice_of(scenarios, "action")
    validate = sub.add_parser(
        "validate",
        help="check scenario files; non-zero exit on any problem",
        description="Check scenario files; every problem is named by file:line: field. Exit status 1 on any.",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="scenario files or folders to check")
    listing = sub.add_parser(
        "list",
        help="print the loaded catalogue",
        description="Print every scenario: the built-in packs', then yours.",
    )
    listing.add_argument(
        "--scenarios",
        nargs="*",
        type=Path,
        default=_env_paths(),
        metavar="PATH",
        help=f"your scenario files or folders, as for serve [{ENV_PREFIX}SCENARIOS]",
    )
    listing.add_argument(
        "--format", choices=("table", "json"), default="table", help="table for people, json for tools"
    )


def _add_token(commands: Any) -> None:
    token = commands.add_parser(
        "token",
        help="read or make an STS token by hand",
        description="Read or make an STS token for one meter, with the key the simulator gives it: the meter's "
        "codes as the simulator generates them for --seed, unless --sgc, --krn, --ti... say otherwise "
        "(after a key change, give the new ones).",
    )
    sub = _choice_of(token, "action")
    decode = sub.add_parser("decode", help="what a token contains", description="Decrypt a token and show its fields.")
    decode.add_argument("token", metavar="TOKEN", help="20 digits (spaces and dashes are ignored)")
    _key_options(decode)
    encode = sub.add_parser("encode", help="make a token", description="Make a token and print its 20 digits.")
    encode.add_argument("kind", choices=HAND_KINDS, help="what the token does")
    encode.add_argument("--units", type=Decimal, default=Decimal(0), help="credit units, or kW for power-limit")
    encode.add_argument("--tid", type=int, help="token identifier, minutes since the base date (default: now)")
    encode.add_argument("--rnd", type=int, default=0, help="the 4 random bits, 0-15")
    _key_options(encode)


def _key_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--meter", required=True, metavar="NUMBER", help="STS meter number (11 or 13 digits)")
    command.add_argument("--sgc", help="supply group code, 6 digits")
    command.add_argument("--krn", type=int, help="key revision number, 1-9")
    command.add_argument("--ti", type=int, help="tariff index, 0-99")
    command.add_argument("--kt", type=int, choices=(0, 1, 2), help="key type (default 2, DUTK)")
    command.add_argument("--ea", type=int, choices=(7, 11), help="encryption algorithm: 7 STA, 11 MISTY1")
    command.add_argument("--dkga", type=int, choices=(2, 4), help="decoder key generation algorithm (default 4)")
    command.add_argument("--base-date", type=int, choices=(1993, 2014, 2035), help="TID base date (default 2014)")
    command.add_argument("--ken", type=int, help="key expiry number, 0-255 (default 255)")
    command.add_argument("--seed", type=int, default=Settings.seed, help="the simulator's --seed")
    command.add_argument(
        "--vending-key",
        default=DEFAULT_VENDING_KEY_HEX,
        metavar="HEX",
        help="the vending key: 40 hex digits, or 16 for DKGA02 only (the default is the public STS test key)",
    )


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def _vending_key(text: str) -> bytes:
    try:
        return parse_vending_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _users(text: str) -> dict[str, str]:
    try:
        return parse_users(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text}")
    return int(text)


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number (0 or more): {text}")
    return int(text)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0: {text}")
    return value


# Limits on what one request may take: (Settings field, type, help); each option also reads PPU_SIM_<FIELD>.
LIMITS = (
    ("max_json_depth", _whole, "a request body nested deeper is a FORMAT_ERROR"),
    (
        "max_format_errors",
        _whole,
        "most offending fields one FORMAT_ERROR lists (it says when it left some out)",
    ),
    ("max_body_bytes", _whole, "largest request body; larger gets 413"),
    ("max_url_bytes", _whole, "longest request target (path and query); longer gets 414"),
    ("max_headers", _whole, "most header fields in one request; more gets 431"),
    ("max_header_bytes", _whole, "largest size of all header fields together; larger gets 431"),
    ("header_timeout", _positive_seconds, "seconds a client may take to send a request's headers; then 408"),
    ("body_timeout", _positive_seconds, "seconds a client may take to send a request's body; then 408"),
    ("idle_timeout", _positive_seconds, "seconds a connection may wait for its next request; then it is closed"),
    ("max_connections", _whole, "most open connections; a new one past it gets 503"),
)


def _env_paths() -> list[Path]:
    return [Path(p) for p in os.environ.get(f"{ENV_PREFIX}SCENARIOS", "").split(os.pathsep) if p]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(args)
    if args.command == "token":
        return _token(args)
    if args.command in ("journal", "transactions"):
        return _control(args)
    if args.command == "report":
        return _report(args)
    if args.action == "validate":
        return _validate(args.paths)
    try:
        return _list(args.scenarios, args.format)
    except BrokenPipeError:  # piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _serve(args: argparse.Namespace) -> int:
    _quiet_connexion()
    try:
        from ppu_sim.transport.server import run  # imported late: validate/list need no web stack
    except ImportError as exc:  # a broken install (e.g. a checker's package missing): one line, not a trace
        print(f"ppu-sim serve: {exc}", file=sys.stderr)
        return 2

    # Every option is named after its setting, so none can be parsed and then left out here.
    given = {f.name: getattr(args, f.name) for f in fields(Settings) if hasattr(args, f.name)}
    settings = Settings(
        **given, scenario_paths=tuple(args.scenarios), watch=not args.no_watch, fast_path=not args.no_fast_path
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(settings)


def _token(args: argparse.Namespace) -> int:
    """Bad input is one line naming what is wrong, exit 2; a token the key does not open, exit 1."""
    from ppu_sim.provider.datagen import DataGenerator  # imported late: Faker is slow to load
    from ppu_sim.provider.sts_meters import identity_by_hand

    spec = StsSpec(None, args.sgc, args.krn, args.ti, args.kt, args.ea, args.dkga, args.base_date, args.ken)
    try:
        identity = identity_by_hand(args.meter, spec, DataGenerator(args.seed), args.seed)
        key = identity.decoder_key(parse_vending_key(args.vending_key, lengths=(8, 20)))
        if args.action == "encode":
            base = identity.keys.base_date
            tid = args.tid if args.tid is not None else tid_of(datetime.now(timezone.utc), base)
            print(codec.encode(hand_token(args.kind, args.units, tid, args.rnd), key))
            return 0
        token = codec.decode(args.token, key)
    except TokenCrcError as exc:
        print(f"ppu-sim token decode: CRC error: not a token for this meter and key ({exc})", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"ppu-sim token {args.action}: {exc}", file=sys.stderr)
        return 2
    for name, value in describe(token, identity.keys.base_date).items():
        print(f"{name:<17} {value}")
    return 0


def _control(args: argparse.Namespace) -> int:
    from ppu_sim.control.console import print_journal, print_transactions
    from ppu_sim.testing import ControlClient, ControlError

    client = ControlClient(args.url, args.session, args.admin_token or None)
    try:
        if args.command == "journal":
            print_journal(client, sys.stdout, as_json=args.format == "json", follow=args.follow)
        else:
            print_transactions(client, sys.stdout, args.format)
    except ControlError as exc:
        print(f"ppu-sim {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # refused, unreachable
        print(f"ppu-sim {args.command}: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, BrokenPipeError):  # --follow ends with Ctrl+C; `| head` closes early
        return 0
    return 0


def _quiet_connexion() -> None:
    # Connexion imports Starlette's test client, which warns about httpx; ppu-sim never uses it.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")


def _report(args: argparse.Namespace) -> int:
    _quiet_connexion()  # the referee reads the contract through the interface's validators
    from ppu_sim.referee.offline import ReportError, write_report

    try:
        return write_report(args, sys.stdout)
    except ReportError as exc:
        print(f"ppu-sim report: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


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
