"""TIFeD over Flower: the federated server and the device hosts as a Flower
SuperLink and SuperNodes, the serial link only on the last metre (a node
host to its boards). docs/FLOWER.md is the user's guide.

- options.py      run options <-> Flower run config
- roster.py       which node holds which global device
- tensors.py      int32 tensors in Flower ArrayRecords, without loss
- wire.py         the messages between ServerApp and ClientApp
- strategy.py     TifedStrategy: integer aggregation, validation, quorum
- server_app.py   the ServerApp: discovery, schedule, results.json
- board_host.py   a node's boards for a run (no Flower in it)
- client_app.py   the ClientApp over a BoardHost
- runtime.py      runs the ClientApp's tasks inside `tifed node`
- supernode.py    the launcher `tifed node` starts its SuperNode with
- waits.py        Flower's fixed waits on a round's path, shortened
- pacing.py       Backoff: poll intervals where Flower has no event
- processes.py    flower-superlink / flower-supernode / flwr as children
- serve_node.py   `tifed serve` and `tifed node`

Importing this package imports no Flower module; the modules above do.
"""
from pathlib import Path

APP_DIR = Path(__file__).with_name("app")  # the Flower App folder that `flwr run` builds
