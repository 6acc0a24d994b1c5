"""A tiny SmolVLM backbone for SmolVLA, built offline with transformers' own classes and random weights
(../shared/notes/vla.md): a byte-level BPE tokenizer with SmolVLM's special tokens, a 4-layer Llama text
model of width 64, a 2-layer vision tower (64x64 images, 16 image tokens a camera), and its processor,
saved with `save_pretrained`. SmolVLA reads it through `--policy.vlm_model_name=<folder>
--policy.load_vlm_weights=false`.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>"]
ROWS = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
SENTENCES = [
    "Pick up the red cube and put it in the bowl.",
    "grasp the pen",
    "Put the pen in the cup",
    "fold the towel",
    "stack the blocks",
    "pick the cube",
    "User: Assistant: the robot moves its arm to the left and right, up and down.",
]


def build_tiny_vlm(folder: Path) -> Path:
    """Write the backbone into `folder` (once: an existing one is kept) and return it."""
    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
    )

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL + ROWS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(SENTENCES * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:] + ROWS,
        extra_special_tokens={
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
        model_max_length=2048,
    )
    vocab = len(tokenizer)
    config = SmolVLMConfig(
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
        text_config={
            "model_type": "llama",
            "vocab_size": vocab,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 8,
        },
        vocab_size=vocab,
    )
    SmolVLMForConditionalGeneration(config).save_pretrained(folder)
    images = SmolVLMImageProcessor(
        do_resize=True,
        size={"longest_edge": 64},
        do_image_splitting=False,
        max_image_size={"longest_edge": 64},
    )
    processor_kwargs = {"image_processor": images, "tokenizer": tokenizer, "image_seq_len": 16}
    try:  # transformers 5 wants the video processor; 4.x builds one itself
        from transformers import SmolVLMVideoProcessor

        processor_kwargs["video_processor"] = SmolVLMVideoProcessor()
    except ImportError:
        pass
    SmolVLMProcessor(**processor_kwargs).save_pretrained(folder)
    return folder


if __name__ == "__main__":
    import sys

    print(build_tiny_vlm(Path(sys.argv[1])))
