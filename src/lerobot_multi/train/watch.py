"""What lerobot-multi-train watches while lerobot's loop runs: realized shares and held-out validation.

- Realized shares: the samples drawn per dataset in each log window (all processes summed), next to
  the target shares, on the console, in wandb (`shares/<repo_id>/drawn`, `.../target`) and in
  `mixture_shares.jsonl` in the output dir, with the window's mean training loss (main process).
- Validation: every `val_freq` steps and at the last step, the policy's loss per dataset on a fixed
  sample of held-out frames (validation.py), computed once on the main process, logged on the console,
  in wandb (`val/<repo_id>/loss`, `val/mean`) and appended to `val_metrics.jsonl`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from lerobot_multi import compat
from lerobot_multi.train.validation import ValidationSet, append_metrics, read_metrics, summary_table

logger = logging.getLogger(__name__)
SHARES_FILE = "mixture_shares.jsonl"


def _wandb_log(data: dict, step: int) -> None:
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.log(data, step=step)


class TrainingWatch:
    """Per-step hooks of one run: `on_batch` for each batch drawn, `after_update` after each update."""

    def __init__(self, cfg, dataset, shares, step: int, val_set_factory=None, held_out_frames=None):
        self.cfg, self.repo_ids = cfg, list(dataset.repo_ids)
        self.train_frames = {r: dataset.meta.num_frames_of(i) for i, r in enumerate(self.repo_ids)}
        self.target = np.asarray(shares, dtype=np.float64)
        self.counts = np.zeros(len(self.repo_ids), dtype=np.int64)
        self.losses: list[float] = []  # this log window's training losses
        self.step = step
        self._val_set_factory, self._val_set = val_set_factory, None
        self.held_out_frames = held_out_frames or {}
        # lerobot 0.6's held-out loss runs every eval_steps: the per-dataset losses come at the same steps
        self.val_freq = cfg.dataset.val_freq or compat.eval_steps(cfg) or cfg.save_freq
        self.output_dir = Path(cfg.output_dir)

    def on_batch(self, batch: dict) -> None:
        ids = batch.get("dataset_index")
        if ids is not None:
            self.counts += np.bincount(torch.as_tensor(ids).reshape(-1).numpy(), minlength=len(self.counts))

    def after_update(self, policy, accelerator, preprocessor, loss: float | None = None) -> None:
        self.step += 1
        if loss is not None:
            self.losses.append(loss)
        main = accelerator is None or accelerator.is_main_process
        if self.cfg.log_freq > 0 and self.step % self.cfg.log_freq == 0:
            counts = self.counts
            if accelerator is not None and accelerator.num_processes > 1:  # a collective: every rank
                counts = accelerator.reduce(torch.as_tensor(counts, device=accelerator.device), "sum")
                counts = counts.cpu().numpy()
            if main:
                self._log_shares(counts)
            self.counts[:] = 0
            self.losses.clear()
        if (
            self._val_set_factory is not None
            and main
            and (self.step % self.val_freq == 0 or self.step == self.cfg.steps)
        ):
            model = accelerator.unwrap_model(policy) if accelerator is not None else policy
            self.validate(model, preprocessor)

    def _log_shares(self, counts: np.ndarray) -> None:
        total = max(int(counts.sum()), 1)
        parts = [
            f"{r} {n} ({n / total:.1%}, target {t:.1%})"
            for r, n, t in zip(self.repo_ids, counts, self.target)
        ]
        logger.info("step %d samples drawn per dataset: %s", self.step, "; ".join(parts))
        record = {
            "step": self.step,
            "drawn": dict(zip(self.repo_ids, counts.tolist())),
            "target": dict(zip(self.repo_ids, self.target.tolist())),
            "loss": float(np.mean(self.losses)) if self.losses else None,
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)  # lerobot makes it at the first checkpoint
        with open(self.output_dir / SHARES_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")
        data = {f"shares/{r}/drawn": n / total for r, n in zip(self.repo_ids, counts.tolist())}
        data |= {f"shares/{r}/target": float(t) for r, t in zip(self.repo_ids, self.target)}
        _wandb_log(data, self.step)

    def validate(self, policy, preprocessor) -> dict:
        start = time.perf_counter()
        if self._val_set is None:
            self._val_set: ValidationSet = self._val_set_factory()
        losses = self._val_set.losses(policy, preprocessor, seed=self.cfg.seed or 0)
        record = append_metrics(self.output_dir, self.step, losses, time.perf_counter() - start)
        logger.info(
            "step %d validation loss: %s; mean %.4f",
            self.step,
            "; ".join(f"{r} {v:.4f}" for r, v in losses.items()),
            record["mean"],
        )
        _wandb_log({**{f"val/{r}/loss": v for r, v in losses.items()}, "val/mean": record["mean"]}, self.step)
        return record

    def finish(self) -> str | None:
        """The end-of-training table (main process), or None without validation."""
        if self._val_set_factory is None:
            return None
        table = summary_table(self.train_frames, self.held_out_frames, read_metrics(self.output_dir))
        logger.info("Validation per dataset:\n%s", table)
        return table
