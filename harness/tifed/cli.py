"""`tifed`: run | step | build | boards | bench | serve | node (interfaces.md
"Command line"; serve and node: docs/FLOWER.md).

Exit codes: 0 done; 1 the run finished but a device was not bit-exact with
the reference; 2 bad input or a failure (one line `tifed: error: ...` on
stderr, no traceback); 130 interrupted by Ctrl-C, 143 by SIGTERM (devices
stopped, results so far kept either way).
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Sequence

from tifed.cli_args import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_NOT_BITEXACT, EXIT_OK, EXIT_TERMINATED, Parser,
                            UsageError, add_link_options, add_recovery_options, add_training_options, add_wire_options,
                            positive, seconds)
from tifed.config import DEFAULT_REJOIN_TIMEOUT
from tifed.errors import Terminated, TifedError, one_line, raise_terminated


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tifed", description="TIFeD hardware-in-the-loop harness")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="federated training on a fleet of (emulated) devices")
    run.add_argument("--board", action="append", default=[], metavar="BOARD",
                     help="sim, host, qemu-..., renode-..., a physical board at a port (nrf52840dk@/dev/ttyACM0), "
                          "or a serial port/URL; repeat for a mixed fleet (dealt out to the devices in turn)")
    run.add_argument("--fleet", metavar="FILE",
                     help="physical/remote devices from a TOML fleet file (docs/BOARD_FARM.md), one per entry")
    run.add_argument("--devices", type=positive, metavar="K",
                     help="number of devices (required with --board; with --fleet: the first K entries)")
    add_training_options(run, required=False)  # required unless --resume (checked in cmd_run)
    add_link_options(run)
    from tifed.config import RunConfig

    run.add_argument("--eval-every", default=RunConfig.__dataclass_fields__["eval_every"].default,
                     metavar="buffer|round|N",
                     help="when to measure test accuracy on the whole test set: after every buffer (default), "
                          "every round, or every N rounds; always after the last round")
    add_wire_options(run)
    faults = add_recovery_options(run, "faults and recovery (docs/RELIABILITY.md)", "a device")
    faults.add_argument("--faults", metavar="SPEC",
                        help="put every device link behind a fault injector, e.g. corrupt=0.01,drop=0.01,seed=1 "
                             "(keys: corrupt byte_drop drop dup delay delay_s dir seed reset reset_s hangup chunk "
                             "retries)")
    faults.add_argument("--rejoin-timeout", type=seconds, default=DEFAULT_REJOIN_TIMEOUT, metavar="S",
                        help="seconds a device that reset or lost its link may take to answer again before it is "
                             f"dropped (default {DEFAULT_REJOIN_TIMEOUT:g})")
    faults.add_argument("--resume", metavar="DIR",
                        help="continue the run in DIR from its last completed round, with its options")

    step = sub.add_parser("step", help="one device's local training on a case file")
    step.add_argument("--engine", required=True, metavar="reference|BOARD")
    step.add_argument("--in", dest="in_path", required=True, metavar="CASE.npz")
    step.add_argument("--out", dest="out_path", required=True, metavar="RESULT.npz")

    build = sub.add_parser("build", help="compile a board's firmware; prints the image path last")
    build.add_argument("--board", required=True, metavar="BOARD")

    sub.add_parser("boards", help="what can be built and run here, and why not")

    bench = sub.add_parser("bench", help="the benchmark suite (results/bench/README.md)")
    bench.add_argument("--quick", action="store_true", help="the CI smoke: fewer points, a few minutes")
    bench.add_argument("--out", required=True, metavar="DIR", help="writes DIR/bench.json, DIR/bench.md, PNGs")
    bench.add_argument("--idx", action="append", default=[], metavar="DIR",
                       help="also the accuracy benchmark on MNIST/Fashion-MNIST IDX files in DIR; repeat for more")
    bench.add_argument("--seeds", type=positive, metavar="N", help="feedback seeds per accuracy box")
    bench.add_argument("--only", action="append", metavar="SECTION",
                       choices=("reference", "firmware", "wire", "fleet", "flower", "line_rate", "accuracy",
                                "reliability"),
                       help="run only this section (reference, firmware, wire, fleet, flower, line_rate, accuracy, "
                            "reliability; repeatable); "
                            "the others are kept from an existing DIR/bench.json")

    from tifed.flower.serve_node import add_parsers as add_flower_parsers  # imports no Flower: --help works without

    add_flower_parsers(sub)
    return parser


# --- commands ---------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from tifed.bench.machine import one_blas_thread
    from tifed.config import RunConfig
    from tifed.plan import prepare
    from tifed.training.config import field_names
    from tifed.output.progress import RunProgress, print_summary
    from tifed.server.resume import check_resumable, resume_config
    from tifed.server.federation import Federation

    checkpoint = None
    if args.resume is not None:
        defaults = vars(build_parser().parse_args(["run", "--resume", args.resume]))
        config, checkpoint = resume_config(args, defaults)
    else:
        missing = [f"--{name}" for name in ("mode", "dataset", "model", "out") if getattr(args, name) is None]
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)} (see `tifed run --help`)")
        config = RunConfig.of(
            boards=args.board, out=args.out, validate=args.validate, eval_every=args.eval_every,
            **{name: getattr(args, name) for name in field_names()},
            fleet=args.fleet, baud=args.baud, timeout=args.timeout, chunk=args.chunk,
            protocol=args.protocol, full_readback=args.full_readback, line_rate=args.line_rate,
            faults=args.faults, quorum=args.quorum, round_timeout=args.round_timeout,
            stop_on_divergence=args.stop_on_divergence, rejoin_timeout=args.rejoin_timeout,
        )
    plan = prepare(config)  # every input check, before any device starts
    if checkpoint is not None:
        check_resumable(plan, checkpoint, args.resume)
    boards = ",".join(dict.fromkeys(b.name for b in plan.boards))
    t = plan.training
    title = f"{t.dataset} {'-'.join(map(str, plan.dims))} {t.mode} x{t.devices} on {boards}"
    if checkpoint is not None:
        title += f", resumed after round {checkpoint.round}"

    def warn(message: str) -> None:
        print(f"tifed: warning: {message}", file=sys.stderr, flush=True)

    # One BLAS thread: the server's products (sim devices, validation, test
    # accuracy) are many and mid-sized, where a second thread costs more than
    # it gives, and on a busy machine far more (results/bench/README.md).
    with one_blas_thread(), RunProgress(len(plan.schedule), title, devices=len(plan.boards)) as progress:
        federation = Federation(plan, on_round=progress.round_done, on_event=warn, resume=checkpoint)
        final = federation.run()
    print_summary(final, str(federation.results.json_path))
    if final["bitexact_all"] is False:
        bad = [r for r in federation.results.rounds if r["bitexact"] is False]
        print(f"tifed: warning: devices {bad[0].get('mismatched_devices')} differed from the reference "
              f"first in round {bad[0]['round']} ({len(bad)} rounds not bit-exact)", file=sys.stderr)
        return EXIT_NOT_BITEXACT
    return EXIT_OK


def cmd_step(args: argparse.Namespace) -> int:
    from tifed.step import run_step

    summary = run_step(args.engine, args.in_path, args.out_path)
    counter = summary.get("counter")
    print(f"{summary['engine']}: {'-'.join(map(str, summary['dims']))}, {summary['samples']} samples"
          + ("" if counter is None else f", counter {counter}") + f" -> {args.out_path}")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from tifed.boards.registry import get_board
    from tifed.firmware.image_report import describe_image

    image = get_board(args.board).build()
    summary = describe_image(image)
    if summary:
        print(summary)
    print(image)  # the last line is the image path (interfaces.md)
    return EXIT_OK


def cmd_boards(args: argparse.Namespace) -> int:
    from tifed.boards.table import print_boards, print_capacity, print_ports

    print_boards()
    print_capacity()
    print_ports()
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from tifed.bench.runner import run as run_bench

    run_bench(args.out, quick=args.quick, idx_dirs=args.idx, seeds=args.seeds, only=args.only)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from tifed.flower.serve_node import serve

    return serve(args)


def cmd_node(args: argparse.Namespace) -> int:
    from tifed.flower.serve_node import node

    return node(args)


COMMANDS = {"run": cmd_run, "step": cmd_step, "build": cmd_build, "boards": cmd_boards, "bench": cmd_bench,
            "serve": cmd_serve, "node": cmd_node}


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except TifedError as exc:
        print(f"tifed: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"tifed: {how}; devices stopped, results so far kept", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
