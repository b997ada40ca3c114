"""What every `tifed` command line shares: exit codes, the parser class,
argument types and the option groups of `tifed run` that `tifed serve`
takes too (the training options take their defaults from
tifed.training.config, their one home)."""
from __future__ import annotations

import argparse

from tifed.errors import TifedError

EXIT_OK, EXIT_NOT_BITEXACT, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr like every other error."""

    def error(self, message: str):  # noqa: D401 (argparse's name)
        raise UsageError(f"{message} (see `{self.prog} --help`)")


class UsageError(TifedError):
    pass


def _integer(text: str, low: int, rule: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text} {rule}")
    return value


def positive(text: str) -> int:
    return _integer(text, 1, "must be at least 1")


def natural(text: str) -> int:
    return _integer(text, 0, "must not be negative")


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be above 0")
    return value


def add_training_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The training configuration shared by `tifed run` and `tifed serve`
    (tifed.training.config: its defaults are taken from there)."""
    from tifed.training.config import MODES, WEIGHT_WIDTHS, default_of

    parser.add_argument("--mode", choices=MODES, required=required)
    parser.add_argument("--dataset", required=required, metavar="NAME", help="fashion-mnist, digits, mnist5k, mnist:DIR or idx:DIR")
    parser.add_argument("--model", required=required, metavar="SPEC", help="layer sizes, e.g. 64-32-10")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--buffers", type=positive, metavar="N", help="train on the first N buffers only")
    limit.add_argument("--rounds", type=positive, metavar="R", help="stop after R rounds")
    parser.add_argument("--buffer-len", type=positive, default=default_of("buffer_len"), metavar="N")
    parser.add_argument("--batch", type=positive, default=default_of("batch"), metavar="N")
    parser.add_argument("--epochs", type=positive, default=default_of("epochs"), metavar="N", help="rounds per buffer")
    parser.add_argument("--lr-inv", type=positive, default=default_of("lr_inv"), metavar="N",
                        help="inverse learning rate")
    parser.add_argument("--seed", type=natural, default=default_of("seed"), metavar="S",
                        help="data split, shards, feedback matrices")
    parser.add_argument("--weights", choices=WEIGHT_WIDTHS, default=default_of("weights"),
                        help="storage width of weights and biases on every engine (int32: the paper's; "
                             "int16 saturates at -32768..32767 and needs about half the RAM)")
    parser.add_argument("--pool", type=positive, default=default_of("pool"), metavar="P",
                        help="feed the mean of each P x P block of pixels (floor of the mean, before the -128 "
                             "shift): 784 inputs become 196 with 2, for boards with little RAM (default 1: off)")
    parser.add_argument("--validate", action=argparse.BooleanOptionalAction, default=True,
                        help="recompute every device's update with the reference and compare bit for bit")
    parser.add_argument("--out", required=required, metavar="DIR")


def add_link_options(parser: argparse.ArgumentParser) -> None:
    link = parser.add_argument_group("serial links (ports, URLs and fleet devices; a fleet entry's own values win)")
    link.add_argument("--baud", type=positive, metavar="N", help="baud rate (default 115200)")
    link.add_argument("--timeout", type=seconds, metavar="S", help="seconds to wait for one answer (default 10)")
    link.add_argument("--chunk", type=positive, metavar="BYTES",
                      help="largest frame payload per request (default: the device's max_payload)")


def add_wire_options(parser: argparse.ArgumentParser) -> None:
    """How the model crosses every device's link (PROTOCOL.md protocol 2, links/line_rate.py)."""
    wire = parser.add_argument_group("the model on the wire (every device)")
    wire.add_argument("--protocol", type=int, choices=(1, 2), metavar="N",
                      help="the newest protocol version to use (default: the newest the device speaks; "
                           "1 sends the model as plain int32)")
    wire.add_argument("--full-readback", action="store_true",
                      help="read every trained tensor back whole (an audit), not only its digest or low bits")
    wire.add_argument("--line-rate", type=positive, metavar="BAUD",
                      help="pace every link like a UART of BAUD baud, 10 bits a byte (a physical board's "
                           "round time, measured on host, QEMU or Renode boards)")


def add_recovery_options(parser: argparse.ArgumentParser, title: str, each: str) -> argparse._ArgumentGroup:
    """--quorum, --round-timeout, --stop-on-divergence (docs/RELIABILITY.md);
    `each` names what a round waits for (a device, a node)."""
    group = parser.add_argument_group(title)
    group.add_argument("--quorum", type=positive, metavar="N",
                       help="fewest accepted updates a round aggregates, and fewest devices the run goes on with; "
                            "a device that dies or keeps failing is dropped while N are left (default: every device)")
    group.add_argument("--round-timeout", type=seconds, metavar="S",
                       help=f"close a round S seconds after it starts once a quorum of updates is in; {each} still "
                            "busy is left out of it and its late update thrown away (default: wait for all)")
    group.add_argument("--stop-on-divergence", action="store_true",
                       help="end the run when it collapses to chance level (always reported)")
    return group
