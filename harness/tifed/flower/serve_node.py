"""`tifed serve` and `tifed node` (docs/FLOWER.md).

    tifed serve --address HOST:PORT [TLS]                  a SuperLink, until Ctrl-C
    tifed serve --address HOST:PORT [TLS] RUN-OPTIONS      a SuperLink and one run on it
    tifed serve --superlink HOST:PORT [TLS] RUN-OPTIONS    one run on a running SuperLink
    tifed node --superlink HOST:PORT [TLS] --board B ... --device-offset O

RUN-OPTIONS are `tifed run`'s training options (--devices K --mode --dataset
--model --out ...) and its --quorum, --round-timeout, --stop-on-divergence,
plus --node-timeout and --join-timeout; the boards are the nodes' business.
Exit codes are `tifed run`'s.

Nothing here imports Flower at module level: `tifed --help` works without it.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from tifed.cli_args import (EXIT_ERROR, EXIT_NOT_BITEXACT, EXIT_OK, add_link_options, add_recovery_options,
                            add_training_options, add_wire_options, natural, positive, seconds)
from tifed.links.settings import WireOptions
from tifed.config import RunConfig
from tifed.errors import ConfigError, TifedError
from tifed.flower.options import FederationOptions
from tifed.training.config import field_names

READY_TIMEOUT = 120.0  # seconds for a SuperLink to open its port
SUPEREXEC_POLL = 0.5  # seconds between the SuperExec's looks for a run to start (Flower: 1.0)
RUN_STARTED = re.compile(r"Successfully started run (\d+)")
NODE_JOINED = re.compile(r"SuperNode ID: (\d+)")
TRAINING_REQUIRED = ("devices", "mode", "dataset", "model", "out")


# --- argparse -----------------------------------------------------------------


def add_tls_options(parser: argparse.ArgumentParser, server: bool) -> None:
    tls = parser.add_argument_group("TLS (Flower's; docs/FLOWER.md)")
    tls.add_argument("--insecure", action="store_true",
                     help="plain HTTP between the Flower processes (a trusted network only)")
    tls.add_argument("--root-certificates", metavar="CA.pem",
                     help="CA certificate that signed the SuperLink's certificate")
    if server:
        tls.add_argument("--ssl-certfile", metavar="CERT.pem", help="the SuperLink's certificate")
        tls.add_argument("--ssl-keyfile", metavar="KEY.pem", help="the SuperLink's private key")
        tls.add_argument("--ssl-ca-certfile", metavar="CA.pem", help="the CA of the SuperLink's certificate")
        tls.add_argument("--enable-supernode-auth", action="store_true",
                         help="accept only SuperNodes whose public key was registered (flwr supernode register)")
    else:
        tls.add_argument("--auth-supernode-private-key", metavar="KEY",
                         help="this node's private key, for a SuperLink with --enable-supernode-auth")


def add_parsers(sub) -> None:
    serve = sub.add_parser("serve", help="a Flower SuperLink, and a federated run on it (docs/FLOWER.md)")
    where = serve.add_mutually_exclusive_group(required=True)
    where.add_argument("--address", metavar="HOST:PORT",
                       help="start a SuperLink listening here (Fleet, Control and Runtime APIs share the port)")
    where.add_argument("--superlink", metavar="HOST:PORT", help="submit the run to a SuperLink that runs already")
    add_tls_options(serve, server=True)
    serve.add_argument("--devices", type=positive, metavar="K", help="devices of the fleet, over all nodes")
    add_training_options(serve, required=False)
    fed = add_recovery_options(serve, "faults and recovery (as for tifed run: docs/RELIABILITY.md, docs/FLOWER.md)",
                               "a node")
    defaults = FederationOptions()
    fed.add_argument("--node-timeout", type=seconds, default=defaults.node_timeout, metavar="S",
                     help=f"drop a node that has not answered a message for S seconds (default {defaults.node_timeout:g})")
    fed.add_argument("--join-timeout", type=seconds, default=defaults.join_timeout, metavar="S",
                     help=f"seconds to wait for nodes to cover devices 0..K-1 (default {defaults.join_timeout:g})")

    node = sub.add_parser("node", help="a Flower SuperNode for the boards on this host (docs/FLOWER.md)")
    node.add_argument("--superlink", required=True, metavar="HOST:PORT", help="the SuperLink's address")
    add_tls_options(node, server=False)
    node.add_argument("--board", action="append", default=[], metavar="BOARD",
                      help="as for tifed run; repeat for more devices (dealt out in turn)")
    node.add_argument("--fleet", metavar="FILE", help="physical boards from a fleet file (docs/BOARD_FARM.md)")
    node.add_argument("--devices", type=positive, metavar="N",
                      help="devices on this node (default: one per --board, or every fleet entry)")
    node.add_argument("--device-offset", type=natural, default=0, metavar="O",
                      help="global id of this node's first device: it holds devices O..O+N-1 (default 0)")
    node.add_argument("--runtime-port", type=positive, metavar="PORT",
                      help="local port of the SuperNode's Runtime API (default: a free one)")
    add_link_options(node)
    add_wire_options(node)


# --- tifed serve --------------------------------------------------------------


def _federation_options(args):
    return FederationOptions(node_timeout=args.node_timeout, join_timeout=args.join_timeout)


def _run_config(args) -> RunConfig | None:
    given = [name for name in TRAINING_REQUIRED if getattr(args, name) is not None]
    if not given:
        return None
    missing = [f"--{name}" for name in TRAINING_REQUIRED if getattr(args, name) is None]
    if missing:
        raise ConfigError(f"a run needs {', '.join(missing)} as well (or give no run options to only serve)")
    return RunConfig.of(
        boards=("sim",), out=str(Path(args.out).resolve()), validate=args.validate,
        **{name: getattr(args, name) for name in field_names()},
        quorum=args.quorum, round_timeout=args.round_timeout, stop_on_divergence=args.stop_on_divergence,
    )


def _check_tls(args, server: bool) -> None:
    tls_files = [getattr(args, n, None) for n in ("ssl_certfile", "ssl_keyfile", "ssl_ca_certfile")]
    if args.insecure and (args.root_certificates or any(tls_files)):
        raise ConfigError("--insecure and certificates contradict each other: give one or the other")
    if server and any(tls_files) and not all(tls_files):
        raise ConfigError("a SuperLink with TLS needs --ssl-certfile, --ssl-keyfile and --ssl-ca-certfile")
    if server and getattr(args, "enable_supernode_auth", False) and args.insecure:
        raise ConfigError("--enable-supernode-auth needs TLS (Flower signs node requests over HTTPS only)")
    if not server and args.auth_supernode_private_key and args.insecure:
        raise ConfigError("--auth-supernode-private-key needs TLS: give --root-certificates instead of --insecure")
    for name in ("root_certificates", "ssl_certfile", "ssl_keyfile", "ssl_ca_certfile", "auth_supernode_private_key"):
        path = getattr(args, name, None)
        if path and not Path(path).is_file():
            raise ConfigError(f"--{name.replace('_', '-')} {path}: no such file")


def serve(args) -> int:
    from tifed.flower import processes
    from tifed.flower.options import server_plan

    # Every input check before any process starts.
    _check_tls(args, server=True)
    if args.address:
        host, port = processes.split_address(args.address, "--address")
        if not args.insecure and not args.ssl_certfile:
            raise ConfigError("a SuperLink needs --insecure or --ssl-certfile/--ssl-keyfile/--ssl-ca-certfile")
        # Listening on every interface: submit through loopback (a TLS
        # certificate for this use must name 127.0.0.1).
        address = f"127.0.0.1:{port}" if host in ("0.0.0.0", "::", "") else args.address
    else:
        processes.split_address(args.superlink, "--superlink")
        address = args.superlink
        if args.ssl_certfile or args.enable_supernode_auth:
            raise ConfigError("--ssl-certfile/--ssl-keyfile/--ssl-ca-certfile and --enable-supernode-auth set up "
                              "a SuperLink: use them with --address")
    config = _run_config(args)
    if args.superlink and config is None:
        raise ConfigError("--superlink submits a run: give the run options (--devices, --mode, ...)")
    fed = _federation_options(args)
    if config is not None:
        server_plan(config, fed)
    _check_flower_installed()
    with tempfile.TemporaryDirectory(prefix="tifed-flower-") as home:
        env = processes.flower_env(home)
        superlink = None
        try:
            if args.address:
                superlink = _start_superlink(args, env)
            if config is None:
                print("tifed serve: serving until Ctrl-C; submit runs with "
                      f"`tifed serve --superlink {address} ...` or `flwr run`", flush=True)
                superlink.wait()
                raise processes.FlowerProcessError(superlink.describe_exit())
            return _submit_and_follow(config, fed, address, args, home, env, superlink)
        finally:
            if superlink is not None:
                superlink.stop()


def _check_flower_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("flwr") is None:  # find, not import: flwr takes seconds to import
        raise ConfigError("Flower is not installed: pip install 'tifed-hil[flower]'")


def _start_superlink(args, env):
    from tifed.flower import processes

    host, port = processes.split_address(args.address, "--address")
    cmd = ["flower-superlink", "--host", host, "--port", str(port), "--disable-runtime-dependency-installation"]
    if args.insecure:
        cmd.append("--insecure")
    else:
        cmd += ["--ssl-certfile", args.ssl_certfile, "--ssl-keyfile", args.ssl_keyfile,
                "--ssl-ca-certfile", args.ssl_ca_certfile]
    if args.enable_supernode_auth:
        cmd.append("--enable-supernode-auth")
    # The SuperLink's task launcher (flower-superexec) looks for a new run to
    # start every second by default. Only a run's start waits on it, never a
    # round: 0.5 s halves that wait; 0.1 s would cost an idle SuperLink 5 %
    # of a core (measured: 1.6 s of CPU per 30 s, against 0.34 s at 0.5 s).
    env = {**env, "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": str(SUPEREXEC_POLL)}
    link = processes.FlowerProcess("flower-superlink", cmd, env, echo=sys.stderr)
    try:
        processes.wait_for_port(host, port, link, READY_TIMEOUT)
    except BaseException:
        link.stop()
        raise
    print(f"tifed serve: SuperLink listening on {args.address}", flush=True)
    return link


def _submit_and_follow(config: RunConfig, fed, address: str, args, home: str, env, superlink) -> int:
    """`flwr run` with the run config, its log stream echoed, then the
    verdict from results.json (`tifed run`'s exit codes)."""
    from tifed.flower import APP_DIR, processes
    from tifed.flower.options import to_run_config, toml_text

    home_dir = Path(home)
    (home_dir / "config.toml").write_text(_cli_config(address, args))
    run_config = home_dir / "run-config.toml"
    run_config.write_text(toml_text(to_run_config(config, fed)))
    run_id: list[str] = []

    def watch(line: str) -> None:
        found = RUN_STARTED.search(processes.plain(line))
        if found and not run_id:
            run_id.append(found.group(1))

    results = Path(config.out) / "results.json"
    before = results.stat().st_mtime_ns if results.exists() else None
    cli = processes.FlowerProcess("flwr run", ["flwr", "run", str(APP_DIR), "tifed", "--run-config",
                                               str(run_config), "--stream"], env, echo=sys.stdout, on_line=watch)
    try:
        code = cli.wait()
    except BaseException:  # Ctrl-C / SIGTERM: stop the run on the SuperLink as well
        cli.stop()
        if run_id:
            _stop_run(run_id[0], env)
        raise
    if code != 0 or not run_id:
        raise processes.FlowerProcessError(f"flwr run failed: {cli.describe_exit()}")
    if not results.exists() or results.stat().st_mtime_ns == before:
        where = "on this host" if superlink is not None else "on the SuperLink's host"
        raise TifedError(f"run {run_id[0]} left no {results} {where} (see the log above)")
    return _verdict(results)


def _cli_config(address: str, args) -> str:
    lines = ['[superlink]', 'default = "tifed"', "", "[superlink.tifed]", f"address = {json.dumps(address)}"]
    if args.insecure:
        lines.append("insecure = true")
    else:
        ca = args.root_certificates or getattr(args, "ssl_ca_certfile", None)
        if ca:
            lines.append(f"root-certificates = {json.dumps(str(Path(ca).resolve()))}")
    return "\n".join(lines) + "\n"


def _stop_run(run_id: str, env) -> None:
    import subprocess

    from tifed.flower import processes

    try:
        subprocess.run([processes.program("flwr"), "stop", run_id, "tifed"], env=env, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _verdict(results: Path) -> int:
    from tifed.output.progress import print_summary

    doc = json.loads(results.read_text())
    final = doc["final"]
    print_summary(final, str(results))
    if final.get("error"):
        print(f"tifed: error: {final['error']}", file=sys.stderr)
        return EXIT_ERROR
    if final.get("bitexact_all") is False:
        return EXIT_NOT_BITEXACT
    return EXIT_OK


# --- tifed node ---------------------------------------------------------------


def node(args) -> int:
    from tifed.flower.board_host import BoardHost, NodeSpec

    _check_tls(args, server=False)
    if not args.insecure and not args.root_certificates:
        raise ConfigError("give --root-certificates CA.pem (TLS) or --insecure (plain HTTP)")
    from tifed.flower import processes

    processes.split_address(args.superlink, "--superlink")
    _check_flower_installed()
    from tifed.flower import client_app, runtime, supernode, waits

    waits.check_loop()  # the Flower series, and the SuperNode loop that supernode.py paces
    host = BoardHost(NodeSpec(boards=tuple(args.board), devices=args.devices, offset=args.device_offset,
                              fleet=args.fleet, baud=args.baud, timeout=args.timeout, chunk=args.chunk,
                              wire=WireOptions(protocol=args.protocol, full_readback=args.full_readback,
                                               line_rate=args.line_rate)),
                     say=lambda line: print(f"tifed node: {line}", flush=True))
    try:
        return _serve_node(args, host, client_app, runtime, processes, supernode)
    finally:
        host.close()


def _serve_node(args, host, client_app, runtime, processes, supernode_launcher) -> int:
    ids = host.device_ids
    span = f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else str(ids[0])
    boards = ", ".join(host.describe()["boards"])
    port = args.runtime_port or processes.free_port()
    config = f'device-offset={host.offset} devices={host.n} boards="{",".join(host.describe()["boards"])}"'
    cmd = supernode_launcher.command() + [
        "--superlink", args.superlink, "--isolation", "process", "--host", "127.0.0.1", "--port", str(port),
        "--node-config", config]
    cmd += ["--insecure"] if args.insecure else ["--root-certificates", args.root_certificates]
    if args.auth_supernode_private_key:
        cmd += ["--auth-supernode-private-key", args.auth_supernode_private_key]

    # The runner first: the SuperNode's output wakes it (`supernode` is bound below, before serve()).
    runner = runtime.TaskRunner(f"127.0.0.1:{port}", client_app.app, lambda: supernode.alive())

    def said(line: str) -> None:
        line = processes.plain(line)
        if line == supernode_launcher.MESSAGE_STORED:
            runner.notify()
        elif found := NODE_JOINED.search(line):
            print(f"tifed node: joined {args.superlink} as node {found.group(1)}: devices {span} ({boards})",
                  flush=True)

    with tempfile.TemporaryDirectory(prefix="tifed-flower-node-") as home:
        supernode = processes.FlowerProcess("flower-supernode", cmd, processes.flower_env(home),
                                            echo=sys.stderr, on_line=said)
        client_app.attach(host)
        try:
            runner.serve()
        except runtime.SuperNodeGone:
            raise processes.FlowerProcessError(supernode.describe_exit()) from None
        finally:
            client_app.attach(None)
            supernode.stop()
    return 0

