"""lerobot 0.6's language columns (`language_persistent`, `language_events`) through a mixture.

The datasets get their columns as lerobot 0.6.1's own test adds them (the parquet rewritten with the
columns, here in lerobot's Arrow types, and `language_feature_info()` in info.json). The oracle is the installed lerobot's
`LeRobotDataset` on the same folder: per sample, and the batch `lerobot_collate_fn` makes of them.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from helpers import assert_same, dataset_of, run, train_cmd

from lerobot_multi import MultiLeRobotDataset, StreamingMultiLeRobotDataset
from lerobot_multi.compat import LINE
from lerobot_multi.meta.sources import DatasetSourceError

pytestmark = pytest.mark.skipif(not LINE.language_columns, reason="language columns: lerobot 0.6 line only")

if LINE.language_columns:
    from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata
    from lerobot.datasets.io_utils import write_info
    from lerobot.datasets.language import (
        LANGUAGE_EVENTS,
        LANGUAGE_PERSISTENT,
        language_events_arrow_type,
        language_feature_info,
        language_persistent_arrow_type,
    )
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.utils.collate import lerobot_collate_fn


RENUMBERED = ("index", "episode_index", "task_index", "dataset_index")


def _persistent(frame: int) -> list[dict]:
    row = {"role": "assistant", "content": f"step {frame // 3}", "style": "subtask", "timestamp": 0.0}
    return [{**row, "camera": None, "tool_calls": None}]


def _events(frame: int) -> list[dict]:
    if frame % 4:
        return []
    call = '{"name": "say", "arguments": {"text": "hi"}}'
    return [{"role": "user", "content": "where?", "style": "vqa", "camera": "observation.images.top",
             "tool_calls": [call] if frame % 8 == 0 else None}]  # fmt: skip


def _arrow(rows: list, kind: pa.ListType) -> pa.Array:
    """Rows in lerobot's column type (its JSON `tool_calls` built from their string storage)."""
    storage = pa.list_(
        pa.struct([(f.name, pa.list_(pa.string())) if f.name == "tool_calls" else f for f in kind.value_type])
    )
    return pa.array(rows, type=storage).cast(kind)


def annotate(folder) -> None:
    """Language columns written into a dataset's data files (lerobot's Arrow types) and info.json."""
    for path in sorted((folder / "data").rglob("*.parquet")):
        table = pq.read_table(path)
        index = table.column("index").to_pylist()
        persistent = _arrow([_persistent(i) for i in index], language_persistent_arrow_type())
        events = _arrow([_events(i) for i in index], language_events_arrow_type())
        table = table.append_column(LANGUAGE_PERSISTENT, persistent).append_column(LANGUAGE_EVENTS, events)
        pq.write_table(table, path)
    info = LeRobotDatasetMetadata("annotated", root=folder).info
    info["features"].update(language_feature_info())
    write_info(info, folder)


@pytest.fixture
def annotated(copy_of):
    root, a = copy_of("lab/sess_a")
    _, b = copy_of("lab/sess_c")
    for folder in (a, b):
        annotate(folder)
    return root, ["lab/sess_a", "lab/sess_c"]


def _oracle(root, repo_ids, delta=None) -> list[LeRobotDataset]:
    return [LeRobotDataset(r, root=root / r, delta_timestamps=delta, video_backend="pyav") for r in repo_ids]


def _expected(multi, oracle, g: int) -> dict:
    d, p = dataset_of(multi.meta, g)
    return oracle[d][p]


def _same_but_numbering(got: dict, want: dict, where) -> None:
    assert_same(
        {k: v for k, v in got.items() if k not in RENUMBERED},
        {k: v for k, v in want.items() if k not in RENUMBERED},
        where,
    )


@pytest.mark.parametrize("reader", ["fast", "lerobot"])
def test_language_columns_equal_lerobot(annotated, reader):
    root, repo_ids = annotated
    delta = {"action": [0.0, 1 / 30, 2 / 30]}
    multi = MultiLeRobotDataset(
        repo_ids, root=root, delta_timestamps=delta, reader=reader, video_backend="pyav"
    )
    oracle = _oracle(root, repo_ids, delta)
    assert multi.meta.has_language_columns
    assert {LANGUAGE_PERSISTENT, LANGUAGE_EVENTS} <= set(multi.features)
    indices = np.random.default_rng(0).permutation(len(multi)).tolist()  # every frame, in random order
    for g in indices:
        _same_but_numbering(multi[g], _expected(multi, oracle, g), (reader, g))
    calls = [e["tool_calls"] for g in indices for e in multi[g][LANGUAGE_EVENTS] if e["tool_calls"]]
    assert calls and calls[0] == [{"name": "say", "arguments": {"text": "hi"}}]  # JSON decoded, as lerobot
    ours = lerobot_collate_fn(multi.__getitems__(indices))
    theirs = lerobot_collate_fn([_expected(multi, oracle, g) for g in indices])
    _same_but_numbering(ours, theirs, (reader, "batch"))  # 0.6.1 drops the rows, main keeps them as lists


def test_language_columns_through_a_dataloader_and_the_stream(annotated):
    root, repo_ids = annotated
    multi = MultiLeRobotDataset(repo_ids, root=root, video_backend="pyav")
    loader = torch.utils.data.DataLoader(multi, batch_size=8, collate_fn=lerobot_collate_fn, num_workers=0)
    batch = next(iter(loader))
    assert batch["action"].shape == (8, 6)
    stream = StreamingMultiLeRobotDataset(repo_ids, root=root, infinite=False, video_backend="pyav")
    for n, sample in enumerate(stream):
        want = multi[int(sample["index"])]
        assert sample[LANGUAGE_PERSISTENT] == want[LANGUAGE_PERSISTENT]
        assert sample[LANGUAGE_EVENTS] == want[LANGUAGE_EVENTS]
        if n == 20:
            break


def test_language_in_some_datasets_only_is_left_out(copy_of):
    root, a = copy_of("lab/sess_a")
    copy_of("lab/sess_c")
    annotate(a)
    multi = MultiLeRobotDataset(["lab/sess_a", "lab/sess_c"], root=root, video_backend="pyav")
    assert not multi.meta.has_language_columns
    assert LANGUAGE_PERSISTENT not in multi[0]


def test_language_column_with_a_window_is_refused(annotated):
    root, repo_ids = annotated
    with pytest.raises(DatasetSourceError, match=r"language_events.*delta"):
        MultiLeRobotDataset(repo_ids, root=root, delta_timestamps={LANGUAGE_EVENTS: [0.0, 1 / 30]})


def test_hf_dataset_holds_the_language_rows(annotated):
    root, repo_ids = annotated
    multi = MultiLeRobotDataset(repo_ids, root=root, video_backend="pyav")
    rows = multi.hf_dataset
    oracle = _oracle(root, repo_ids)
    for g in (0, 8, len(multi) - 1):
        d, p = dataset_of(multi.meta, g)
        theirs = oracle[d].hf_dataset[p]
        assert rows[g][LANGUAGE_PERSISTENT] == theirs[LANGUAGE_PERSISTENT]
        assert rows[g][LANGUAGE_EVENTS] == theirs[LANGUAGE_EVENTS]


def test_training_on_annotated_datasets_with_held_out_losses(annotated, tmp_path):
    """lerobot's loop picks `lerobot_collate_fn` from `meta.has_language_columns`; our per-dataset
    held-out losses collate the same way."""
    root, repo_ids = annotated
    out = tmp_path / "run"
    result = run(
        train_cmd(
            f"--dataset.repo_id=[{','.join(repo_ids)}]",
            f"--dataset.root={root}",
            "--dataset.val_episodes=1",
            "--dataset.val_freq=2",
            "--num_workers=0",
            "--steps=2",
            f"--output_dir={out}",
        ),
        cwd=tmp_path,
    )
    assert (out / "checkpoints/000002/pretrained_model/model.safetensors").exists()
    records = [json.loads(line) for line in (out / "val_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2] and set(records[0]["loss"]) == set(repo_ids)
    assert "validation loss: lab/sess_a" in result.stdout + result.stderr
