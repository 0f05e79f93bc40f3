"""Helpers for the Pocket TTS tests: a tiny randomly initialised model, built offline.

pocket-tts downloads only the paths of its config that start with ``hf://`` or
``http(s)://``; local paths are used as they are, and a config without
``weights_path`` gives a model with random weights. So a local tokenizer and a
small YAML config are enough to run the whole real pipeline (tokenizer ->
FlowLM -> Mimi decoder -> 24 kHz audio, streamed) with no download. The audio
is noise, and the end-of-speech token fires at random: tests assert on types,
timing and streaming, never on what is said or how long it lasts.

Two things the config must get right:

- pocket-tts splits sentences with ``_, *eos = tokenizer(".!...?")``, which
  expects a SentencePiece-style leading ``"▁"`` token: the tokenizer gets a
  ``Metaspace`` pre-tokenizer that always prepends it;
- the text lookup table has one bin per token: ``n_bins`` is the vocabulary size.

The test module imports this file by path; nothing heavy is imported here at
module level (torch and tokenizers are imported inside the functions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

#: The model's audio rate (Mimi at 24 kHz, 12.5 latent frames a second).
RATE = 24000

#: Characters of the tokenizer besides the word marker: printable ASCII without space.
_CHARACTERS = [chr(code) for code in range(33, 127)]

_CONFIG = """\
# A tiny pocket-tts model with random weights (no weights_path): for tests only.
default_temperature: 0.3
default_eos_threshold: -4.0
flow_lm:
  insert_bos_before_voice: true
  dtype: float32
  flow: {{depth: 2, dim: 32, type: pointwise}}
  transformer: {{d_model: 64, hidden_scale: 1, max_period: 10000, num_heads: 2, num_layers: 2,
                dim_feedforward: 64}}
  lookup_table: {{dim: 64, n_bins: {n_bins}, tokenizer: tokenizers, tokenizer_path: '{tokenizer}'}}
  z_dim: 32
mimi:
  dtype: float32
  sample_rate: {rate}
  inner_dim: 32
  outer_dim: 64
  channels: 1
  frame_rate: 12.5
  seanet: {{dimension: 64, channels: 1, n_filters: 8, n_residual_layers: 1, ratios: [6, 5, 4],
           kernel_size: 7, residual_kernel_size: 3, last_kernel_size: 3, dilation_base: 2,
           pad_mode: constant, compress: 2}}
  transformer: {{d_model: 64, num_heads: 2, num_layers: 1, layer_scale: 0.01, context: 50,
                dim_feedforward: 128, input_dimension: 64, output_dimensions: [64]}}
  quantizer: {{dimension: 32, output_dimension: 64}}
"""


def write_tokenizer(path: Path) -> int:
    """Write a character-level, SentencePiece-like ``tokenizer.json``; return the vocab size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocabulary = {"<unk>": 0, "▁": 1}
    for character in _CHARACTERS:
        vocabulary[character] = len(vocabulary)
    tokenizer = Tokenizer(models.BPE(vocab=vocabulary, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.save(str(path))
    return int(tokenizer.get_vocab_size())


def build_tiny_model(directory: Path) -> Path:
    """Write a tiny random pocket-tts model into ``directory``; return its YAML config."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = directory / "tokenizer.json"
    n_bins = write_tokenizer(tokenizer)
    config = directory / "tiny.yaml"
    config.write_text(_CONFIG.format(n_bins=n_bins, tokenizer=tokenizer.as_posix(), rate=RATE))
    return config


def noise(seconds: float, *, seed: int = 0, level: float = 0.1) -> npt.NDArray[np.float32]:
    """Gaussian noise at :data:`RATE`: a voice prompt for a random model (any audio will do)."""
    generator = np.random.default_rng(seed)
    return (level * generator.standard_normal(int(seconds * RATE))).astype(np.float32)
