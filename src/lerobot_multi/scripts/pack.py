"""lerobot-multi-pack: write a mixture's metadata pack (docs/reading.md "Metadata packs").

Takes the dataset flags of lerobot-multi-train (`--dataset.repo_id='[a,b]'`, `--dataset.episode_checks`,
`--config_path=train.yaml`, ...) and `--output=FILE`. The pack holds every dataset's `meta/` files at
its commit, the commits, and the episode-check results; `dataset.metadata_pack: FILE` (or an
`hf://datasets/<repo>/<file>` where it is published) then opens the mixture with no API call.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from lerobot_multi.meta.pack import write_pack
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.meta.spec import MixtureSpec
from lerobot_multi.scripts.info import parse


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    output = next((a.split("=", 1)[1] for a in argv if a.startswith("--output=")), None)
    if output is None:
        print("error: --output=FILE is required (where the pack is written)", file=sys.stderr)
        return 2
    try:
        cfg, _, _ = parse([a for a in argv if not a.startswith("--output=")])
        spec = MixtureSpec.from_config(cfg.dataset, metadata_pack=None)
        header = write_pack(spec, Path(output))
    except DatasetSourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    hub_datasets = sum(d["commit"] is not None for d in header["datasets"])
    failed = sum(len(d["failed_episodes"]) for d in header["datasets"])
    print(
        f"{output}: {len(header['datasets'])} datasets ({hub_datasets} from the hub), "
        f"{Path(output).stat().st_size / 1e6:.1f} MB, {failed} episodes failing "
        f"{header['checks']['episode_checks'] or 'no checks'}, {len(header['skipped'])} left out"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
