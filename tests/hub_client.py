"""A client process for the hub tests: lerobot's and lerobot-multi's hub paths read `HF_ENDPOINT`,
`HF_LEROBOT_HOME` and `HF_HUB_OFFLINE` when imported, so each scenario runs in a fresh process with the
environment `LoopbackHub.client_env` gives. Writes what it read to a torch file.

    python hub_client.py mixture OUT '{"repo_ids": [...], "options": {...}}'
    python hub_client.py stream OUT '{"repo_ids": [...], "options": {...}, "samples": n}'
    python hub_client.py stock OUT '{"repo_ids": [...]}'
    python hub_client.py pack OUT '{"repo_ids": [...], "options": {...}, "path": PACK}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def samples_of(dataset, indices) -> list[dict]:
    return [{k: v for k, v in dataset[i].items()} for i in indices]


def run_mixture(args: dict) -> dict:
    from lerobot_multi import MultiLeRobotDataset
    from lerobot_multi.meta import hub

    hub.RETRY_SECONDS = args.get("retry_seconds", hub.RETRY_SECONDS)
    try:
        ds = MultiLeRobotDataset(args["repo_ids"], **args.get("options", {}))
    except Exception as e:  # the test reads the error
        return {"error": f"{type(e).__name__}: {e}"}
    from lerobot_multi.train.manifest import build_manifest

    return {
        "len": len(ds),
        "roots": [str(s.root) for s in ds.meta.sources],
        "commits": [s.commit for s in ds.meta.sources],
        "offsets": [int(x) for x in ds.meta.frame_offsets],
        "manifest": build_manifest(ds, None),
        "samples": samples_of(ds, range(len(ds))),
        "limits": {"rate_limited": hub.LIMITS.rate_limited, "paused_s": hub.LIMITS.paused_s},
    }


def run_stream(args: dict) -> dict:
    from lerobot_multi import StreamingMultiLeRobotDataset

    try:
        ds = StreamingMultiLeRobotDataset(args["repo_ids"], **args.get("options", {}))
    except Exception as e:  # the test reads the error
        return {"error": f"{type(e).__name__}: {e}"}
    out = []
    for sample in ds:
        out.append(sample)
        if len(out) >= args["samples"]:
            break
    return {"samples": out, "roots": [str(s.root) for s in ds.meta.sources]}


def run_pack(args: dict) -> dict:
    from lerobot_multi.meta.pack import write_pack
    from lerobot_multi.meta.spec import MixtureSpec

    try:
        return {
            "header": write_pack(MixtureSpec(args["repo_ids"], **args.get("options", {})), Path(args["path"]))
        }
    except Exception as e:  # the test reads the error
        return {"error": f"{type(e).__name__}: {e}"}


def run_stock(args: dict) -> dict:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out = []
    for repo_id in args["repo_ids"]:
        ds = LeRobotDataset(repo_id)
        out.append({"len": len(ds), "root": str(ds.root), "samples": samples_of(ds, range(len(ds)))})
    return {"datasets": out}


if __name__ == "__main__":
    scenario, out, args = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    scenarios = {"mixture": run_mixture, "stream": run_stream, "stock": run_stock, "pack": run_pack}
    result = scenarios[scenario](args)
    torch.save(result, out)
