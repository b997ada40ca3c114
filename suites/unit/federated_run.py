"""One federated run for a test: `base` with `changes`, into tmp_path/name;
the Federation and the results.json it wrote."""
from __future__ import annotations

import json

from tifed.config import RunConfig
from tifed.plan import prepare
from tifed.server.federation import Federation


def run_federation(base: RunConfig, tmp_path, name: str, **changes):
    fed = Federation(prepare(base.replace(out=str(tmp_path / name), **changes)))
    fed.run()
    return fed, json.loads((tmp_path / name / "results.json").read_text())
