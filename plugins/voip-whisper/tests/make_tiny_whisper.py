"""Offline tiny Whisper for faster-whisper tests (numpy, ctranslate2, tokenizers: its deps).

Our shared recipe (../shared/recipes/make_tiny_whisper.py), kept here so that the plugin's
tests build their own model: a tiny, randomly initialised English-only Whisper model in
CTranslate2 format and a matching tokenizer.json, fully offline. Run:
``HF_HUB_OFFLINE=1 python make_tiny_whisper.py OUT_DIR [--d-model 64] [--text "hello world"]``,
then ``faster_whisper.WhisperModel(OUT_DIR)``.

The model is built directly from ctranslate2.specs.WhisperSpec with numpy random weights
(no torch/transformers, no hub). Vocabulary = 256 byte-level tokens (id == byte value)
+ 3 merged tokens ("Ġ-", "Ġ'", "Ġâ": faster-whisper suppresses the first token of " -",
" '" and " ♪", which would otherwise be the bare space) + Whisper special tokens + 1501
timestamp tokens. That is < 51865 tokens, so CTranslate2/faster-whisper treat it as an
English-only ".en" model: no language detection, info.language == "en".

Output is garbage by default. With --text "..." the decoder is *programmed* (via
position-embedding/projection weights) to emit exactly that text and then <|endoftext|>,
whatever the audio: handy for deterministic STT tests. Programmed text: printable ASCII,
no leading space, none of the suppressed symbols "#()*+/:;<=>@[\\]^_`{|}~ ; one segment
per 30 s window; pass condition_on_previous_text=False for audio > 30 s (the previous-text
prompt shifts positions). Works with and without timestamps (segment = [0.00 s, --end s]).
"""

import argparse
import json
import os

import numpy as np
import tokenizers
from ctranslate2.specs import whisper_spec
from tokenizers import decoders, models, pre_tokenizers

SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
]
N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>, must follow <|notimestamps|> directly
N_MELS, N_AUDIO_CTX, N_TEXT_CTX = 80, 1500, 448


def bytes_to_unicode():
    """GPT-2 byte <-> printable unicode map used by byte-level BPE (id i == byte i)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=False))


MERGES = [
    ("Ġ", "-"),
    ("Ġ", "'"),
    ("Ġ", "â"),
]  # " -", " '", " \xe2" (first byte of " ♪"): see docstring


def build_vocab():
    b2u = bytes_to_unicode()
    text_tokens = [b2u[i] for i in range(256)] + [a + b for a, b in MERGES]
    timestamps = ["<|%.2f|>" % (i * 0.02) for i in range(N_TIMESTAMPS)]
    return text_tokens, text_tokens + SPECIALS + timestamps


def build_tokenizer(text_tokens, all_tokens, path):
    tok = tokenizers.Tokenizer(
        models.BPE(vocab={t: i for i, t in enumerate(text_tokens)}, merges=MERGES)
    )
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(all_tokens[len(text_tokens) :])  # in order: specials, then timestamps
    for i, t in enumerate(all_tokens):
        assert tok.token_to_id(t) == i, (t, i, tok.token_to_id(t))
    tok.save(path)
    return tok


def build_model(
    out_dir, d_model=64, heads=2, enc_layers=1, dec_layers=1, ffn=128, text=None, end=1.0, seed=0
):
    rng = np.random.default_rng(seed)
    if (
        text is not None
    ):  # one residual dimension per programmed output position (+ prompt), rounded up to 16
        d_model = max(d_model, -(-(len(text.encode("ascii")) + 8) // 16) * 16)
    text_tokens, vocab = build_vocab()
    V, d = len(vocab), d_model
    r = lambda *shape: (rng.standard_normal(shape) * 0.05).astype(np.float32)  # noqa: E731
    ones, zeros = (lambda n: np.ones(n, np.float32)), (lambda n: np.zeros(n, np.float32))

    spec = whisper_spec.WhisperSpec(enc_layers, heads, dec_layers, heads)
    enc, dec = spec.encoder, spec.decoder
    enc.conv1.weight, enc.conv1.bias = r(d, N_MELS, 3), zeros(d)
    enc.conv2.weight, enc.conv2.bias = r(d, d, 3), zeros(d)
    enc.position_encodings.encodings = r(N_AUDIO_CTX, d)
    enc.layer_norm.gamma, enc.layer_norm.beta = ones(d), zeros(d)
    for layer in enc.layer:
        sa = layer.self_attention
        sa.layer_norm.gamma, sa.layer_norm.beta = ones(d), zeros(d)
        sa.linear[0].weight, sa.linear[0].bias = r(3 * d, d), zeros(3 * d)  # fused Q,K,V
        sa.linear[1].weight, sa.linear[1].bias = r(d, d), zeros(d)  # out proj
        layer.ffn.layer_norm.gamma, layer.ffn.layer_norm.beta = ones(d), zeros(d)
        layer.ffn.linear_0.weight, layer.ffn.linear_0.bias = r(ffn, d), zeros(ffn)
        layer.ffn.linear_1.weight, layer.ffn.linear_1.bias = r(d, ffn), zeros(d)
    dec.embeddings.weight = r(V, d)
    dec.position_encodings.encodings = r(N_TEXT_CTX, d)
    dec.layer_norm.gamma, dec.layer_norm.beta = ones(d), zeros(d)
    for layer in dec.layer:
        sa, ca = layer.self_attention, layer.attention
        sa.layer_norm.gamma, sa.layer_norm.beta = ones(d), zeros(d)
        sa.linear[0].weight, sa.linear[0].bias = r(3 * d, d), zeros(3 * d)
        sa.linear[1].weight, sa.linear[1].bias = r(d, d), zeros(d)
        ca.layer_norm.gamma, ca.layer_norm.beta = ones(d), zeros(d)
        ca.linear[0].weight, ca.linear[0].bias = r(d, d), zeros(d)  # query
        ca.linear[1].weight, ca.linear[1].bias = (
            r(2 * d, d),
            zeros(2 * d),
        )  # fused K,V (encoder side)
        ca.linear[2].weight, ca.linear[2].bias = r(d, d), zeros(d)
        layer.ffn.layer_norm.gamma, layer.ffn.layer_norm.beta = ones(d), zeros(d)
        layer.ffn.linear_0.weight, layer.ffn.linear_0.bias = r(ffn, d), zeros(ffn)
        layer.ffn.linear_1.weight, layer.ffn.linear_1.bias = r(d, ffn), zeros(d)
    dec.projection.weight = r(V, d)

    eot, notimestamps = vocab.index("<|endoftext|>"), vocab.index("<|notimestamps|>")
    if text is not None:
        # Deterministic output. Residual stream at decoder position p = one-hot(p) * 30
        # (position encodings), the decoder layer is made an identity, the projection
        # maps one-hot(p) to the token wanted at p+1.
        # Prompts used by faster-whisper for an English-only model (first 30 s window):
        #   without_timestamps=True : [sot, <|notimestamps|>] -> text at position 1
        #   with timestamps         : [sot] -> pos 0 predicts <|0.00|>, text at position 1
        ts0, ts_end = notimestamps + 1, notimestamps + 1 + round(end / 0.02)
        body = list(text.encode("ascii"))
        pos = np.zeros((N_TEXT_CTX, d), np.float32)
        for p in range(N_TEXT_CTX):
            pos[p, p % d] = 30.0
        proj = np.zeros((V, d), np.float32)
        proj[ts0, 0] = 1.0  # pos 0 -> <|0.00|> (only sampled in timestamp mode)
        for k, tok_id in enumerate(body):  # pos 1.. -> text
            proj[tok_id, 1 + k] = 1.0
        n = 1 + len(body)
        proj[ts_end, n] = 1.0  # end timestamp (suppressed in no-timestamp mode) ...
        proj[eot, n] = 0.9  # ... else <|endoftext|> straight away
        proj[eot, n + 1] = 1.0  # after the end timestamp -> <|endoftext|>
        dec.position_encodings.encodings = pos
        dec.embeddings.weight = np.zeros((V, d), np.float32)
        dec.projection.weight = proj
        for layer in dec.layer:  # zero the residual branches -> identity layer
            layer.self_attention.linear[1].weight = np.zeros((d, d), np.float32)
            layer.attention.linear[2].weight = np.zeros((d, d), np.float32)
            layer.ffn.linear_1.weight = np.zeros((d, ffn), np.float32)
        dec.layer_norm.gamma = ones(d) * 5.0  # final LN keeps the one-hot; x5 -> logits ~ 40 vs 0

    spec.register_vocabulary(vocab)
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [
        vocab.index(bytes_to_unicode()[32]),
        eot,
    ]  # " " and <|endoftext|>
    spec.config.lang_ids = []
    spec.config.alignment_heads = [(dec_layers - 1, h) for h in range(heads)]
    spec.validate()
    spec.optimize(quantization=None)
    os.makedirs(out_dir, exist_ok=True)
    spec.save(out_dir)  # model.bin, config.json, vocabulary.json
    build_tokenizer(text_tokens, vocab, os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(
            {
                "feature_size": N_MELS,
                "sampling_rate": 16000,
                "hop_length": 160,
                "chunk_length": 30,
                "n_fft": 400,
            },
            f,
        )
    return out_dir


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument(
        "--text", default=None, help="program the decoder to always emit this ASCII text"
    )
    ap.add_argument(
        "--end", type=float, default=1.0, help="end timestamp (s) of the programmed segment"
    )
    a = ap.parse_args()
    print(build_model(a.out_dir, d_model=a.d_model, text=a.text, end=a.end))
