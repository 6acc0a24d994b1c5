"""lerobot 0.4.4's own tools on a mixture: `hf_dataset` rows, the FAST tokenizer script's episode reader,
and lerobot-dataset-viz's Python entry (headless, saved to an .rrd); the single dataset is the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SAME
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import MultiLeRobotDataset

SELECT = {"lab/sess_b": [1, 3]}


def test_hf_dataset_rows_are_the_sources_rows_with_global_ids(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root, episodes=SELECT)
    hf = ds.hf_dataset
    assert len(hf) == len(ds) and ds._absolute_to_relative_idx is None
    refs = {r: LeRobotDataset(r, root=data_root / r).hf_dataset for r in SAME}
    for i in range(len(ds)):
        row, sample = hf[i], ds[i]
        ep = ds.meta.episodes[int(sample["episode_index"])]
        ref_rows = refs[ds.repo_ids[ep["dataset_index"]]]
        own = ref_rows.filter(lambda r, e=ep["source_episode_index"]: r == e, input_columns="episode_index")
        ref = own[int(sample["frame_index"])]
        assert set(row) == set(ref) | {"dataset_index"}
        for key in ("observation.state", "action", "timestamp", "frame_index"):
            assert torch.equal(row[key], ref[key]), key
        for key in ("index", "episode_index", "task_index", "dataset_index", "timestamp"):
            assert torch.equal(row[key], sample[key]), key
    assert hf.features == {**refs["lab/sess_a"].features, "dataset_index": hf.features["dataset_index"]}


def test_hf_dataset_renumbers_subtasks(data_root):
    ds = MultiLeRobotDataset(["lab/sub_a", "lab/sub_b"], root=data_root)
    column = np.array(ds.hf_dataset["subtask_index"])
    assert column.tolist() == [int(ds[i]["subtask_index"]) for i in range(len(ds))]
    assert set(column[np.array(ds.hf_dataset["dataset_index"]) == 1]) <= {
        ds.meta.subtasks.loc["grasp", "subtask_index"],
        ds.meta.subtasks.loc["lift", "subtask_index"],
    }


@pytest.mark.parametrize("delta", [False, True])
def test_tokenizer_script_reads_mixture_episodes(data_root, delta):
    from lerobot.scripts.lerobot_train_tokenizer import process_episode

    ds = MultiLeRobotDataset(SAME, root=data_root, episodes=SELECT)
    for e in range(ds.num_episodes):
        ep = ds.meta.episodes[e]
        repo = ds.repo_ids[ep["dataset_index"]]
        single = LeRobotDataset(repo, root=data_root / repo)
        args = (4, [0, 2] if delta else None, 1.0, "observation.state", delta)
        ours = process_episode((ds, e, *args))
        theirs = process_episode((single, ep["source_episode_index"], *args))
        assert ours is not None and ours.shape == (ep["length"] - 3, 4, 6)
        np.testing.assert_array_equal(ours, theirs)


def test_dataset_viz_saves_the_same_recording(data_root, tmp_path):
    rr = pytest.importorskip("rerun")
    from lerobot.scripts.lerobot_dataset_viz import visualize_dataset

    # the CLI opens one episode of one dataset; a mixture is opened on the episode to show
    ref = LeRobotDataset("lab/sess_b", root=data_root / "lab/sess_b", episodes=[1])
    mix = MultiLeRobotDataset(["lab/sess_b"], root=data_root, episodes={"lab/sess_b": [1]})
    paths = [
        visualize_dataset(d, episode_index=1, save=True, output_dir=tmp_path / name)
        for name, d in (("ref", ref), ("mix", mix))
    ]

    ours, theirs = recording_rows(rr, paths[1]), recording_rows(rr, paths[0])
    frames = {row["frame_index"] for rows in ours.values() for row in rows}
    names = [*ours, *(k for rows in ours.values() for k in rows[0])]  # entities, or one table's columns
    assert frames == set(range(9)) and any("observation.images.top" in name for name in names)
    assert ours == theirs


def recording_rows(rr, path) -> dict[str, list[dict]]:
    """{entity path: its rows ordered by frame_index} of an .rrd, without the logging clock and row
    ids (rerun's dataframe API where it has one, lerobot 0.4.4's rerun; else its chunks, 0.6's)."""
    if hasattr(rr, "dataframe"):
        t = rr.dataframe.load_recording(path).view(index="frame_index", contents="/**").select().read_all()
        t = t.drop_columns([c for c in t.column_names if c.startswith("log_")])
        return {"/": sorted(t.to_pylist(), key=lambda r: r["frame_index"])}
    out: dict[str, list[dict]] = {}
    for chunk in rr.recording.load_recording(path).chunks():
        if chunk.is_static or "frame_index" not in chunk.timeline_names:
            continue
        batch = chunk.to_record_batch()
        keep = [
            n
            for n in batch.schema.names
            if not n.startswith(("log_", "rerun.controls")) and "row_id" not in n
        ]
        rows = batch.select(keep).to_pylist()
        out.setdefault(chunk.entity_path, []).extend(rows)
    return {e: sorted(rows, key=lambda r: r["frame_index"]) for e, rows in sorted(out.items())}


def _tool_calls(ds, out):
    """Each of lerobot's dataset_tools editing functions on the installed line, with arguments that
    reach its file work; (name, call) for those the line has."""
    import lerobot.datasets.dataset_tools as tools

    extra = (np.zeros(len(ds), dtype=np.float32), {"dtype": "float32", "shape": (1,), "names": None})
    calls = {
        "delete_episodes": lambda: tools.delete_episodes(ds, [0], output_dir=out / "d", repo_id="x/d"),
        "split_dataset": lambda: tools.split_dataset(ds, {"a": [0, 1], "b": [2]}, output_dir=out / "s"),
        "merge_datasets": lambda: tools.merge_datasets([ds, ds], "x/m", output_dir=out / "m"),
        "modify_features": lambda: tools.modify_features(
            ds, remove_features="observation.state", output_dir=out / "mf", repo_id="x/mf"
        ),
        "add_features": lambda: tools.add_features(
            ds, {"extra": extra}, output_dir=out / "af", repo_id="x/af"
        ),
        "remove_feature": lambda: tools.remove_feature(
            ds, "observation.state", output_dir=out / "rf", repo_id="x/rf"
        ),
        "modify_tasks": lambda: tools.modify_tasks(ds, new_task="new"),
        "recompute_stats": lambda: tools.recompute_stats(ds),
        "reencode_dataset": lambda: tools.reencode_dataset(ds, rgb_encoder=_other_encoder()),
    }
    return [(name, call) for name, call in calls.items() if hasattr(tools, name)]


def _other_encoder():
    from lerobot.configs.video import RGBEncoderConfig

    return RGBEncoderConfig(crf=RGBEncoderConfig().crf + 1)


def test_dataset_tools_refuse_a_mixture_and_write_nothing_into_its_folders(data_root, tmp_path):
    from conftest import tree_hash

    from lerobot_multi.meta.sources import MixtureHasNoFolderError

    before = tree_hash(data_root)
    ds = MultiLeRobotDataset(SAME[:2], root=data_root, episodes={"lab/sess_a": [0, 1]})
    calls = _tool_calls(ds, tmp_path)
    assert len(calls) >= 7  # 0.4.4 has seven of these, 0.6.1 nine
    for name, call in calls:
        with pytest.raises(
            MixtureHasNoFolderError, match=r"lab/sess_a\+lab/sess_b: a mixture of several folders has no root"
        ) as info:
            call()
        assert "sources[i].root" in str(info.value) and isinstance(info.value, AttributeError), name
    assert not hasattr(ds, "root") and not hasattr(ds.meta, "root")
    assert tree_hash(data_root) == before
    one = MultiLeRobotDataset(["lab/sess_a"], root=data_root, episodes=[1])
    assert one.root == one.meta.root == data_root / "lab/sess_a"  # one folder: lerobot's meaning
