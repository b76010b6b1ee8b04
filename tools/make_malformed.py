#!/usr/bin/env python3
"""Write tests/malformed/: bad inputs for every loader of outside input, each with the
specific error it must give (tests/malformed.rs runs them natively, tests/browser.rs
through the worker's wasm entry points).

  python3 tools/make_malformed.py        # rewrites tests/malformed/ (deterministic)

Layout (a case is one folder or file under its kind):
  model/NAME/      files laid over static/models/tiny (an HF folder), loaded as a model
  pack/NAME/       files laid over base-pack/ (tiny as a q8 pack), loaded as a model
  zip/NAME.zip     a model folder dropped as a zip
  task/NAME/       a benchmark task folder
  document/NAME.*  a user upload for search
  cases.json       NAME -> {"expect": substring of the error, "remove": [files to drop]}
"""
import json
import shutil
import struct
import zipfile
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/malformed"
TINY = ROOT / "static/models/tiny"
# base-pack/ is kept: `conan convert --from static/models/tiny --quant q8 --out tests/malformed/base-pack`.
for kind in ["model", "pack", "zip", "task", "document"]:
    shutil.rmtree(OUT / kind, ignore_errors=True)
cases = {}


def case(name, expect, remove=()):
    assert name not in cases, name
    cases[name] = {"expect": expect, **({"remove": list(remove)} if remove else {})}


def write(path, data):
    path = OUT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------- config.json (model/)
config = json.loads((TINY / "config.json").read_text())


def cfg(name, expect, data):
    write(f"model/{name}/config.json", data if isinstance(data, (bytes, str)) else json.dumps(data))
    case(f"model/{name}", expect)


def with_(**kw):
    c = dict(config)
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


cfg("config-empty", "config.json", b"")
cfg("config-whitespace", "config.json", b"  \n\t ")
cfg("config-not-json", "config.json", b"hidden_size = 64\n")
cfg("config-array", "config.json", b"[1, 2, 3]")
cfg("config-null", "config.json", b"null")
cfg("config-truncated", "config.json", json.dumps(config)[:60])
cfg("config-invalid-utf8", "config.json is not UTF-8", json.dumps(config).encode().replace(b'"conan"', b'"con\xff\xfean"'))
cfg("config-utf16", "config.json is not UTF-8", json.dumps(config).encode("utf-16"))
cfg("config-bomb-nesting", "config.json", "[" * 100_000 + "]" * 100_000)
cfg("config-bomb-wide", "config.json", json.dumps({**config, "padding": ["x" * 100] * 10_000, "hidden_size": "64"}))
cfg("config-duplicate-key", "duplicate field `hidden_size`", json.dumps(config)[:-1] + ', "hidden_size": 128}')
for field in ["model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"]:
    cfg(f"config-missing-{field.replace('_', '-')}", f"missing field `{field}`", with_(**{field: None}))
for field in ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "max_position_embeddings", "num_key_value_heads", "head_dim"]:
    cfg(f"config-zero-{field.replace('_', '-')}", f"{field} must be positive", with_(**{field: 0}))
# 2^30 fits wasm's 32-bit usize, so the same check answers there; 2^40 is refused by the
# parser in wasm and by the check natively, both naming the number.
for field in ["hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size"]:
    cfg(f"config-huge-{field.replace('_', '-')}", f"{field} = 1073741824 is implausibly large", with_(**{field: 1 << 30}))
cfg("config-hidden-2-40", "1099511627776", with_(hidden_size=1 << 40))
cfg("config-layers-2-24", "num_hidden_layers = 16777216 is implausibly large (at most 1024)", with_(num_hidden_layers=1 << 24))
cfg("config-wide-heads", "num_attention_heads × head_dim = 281474976710656 is implausibly large", with_(num_attention_heads=1 << 24, num_key_value_heads=1 << 24, head_dim=1 << 24))
cfg("config-huge-ffn", "of shape [4194304, 16777216] would hold more than 2^32 values", with_(hidden_size=1 << 24, intermediate_size=1 << 24, head_dim=1 << 20, matryoshka_dims=[64]))
cfg("config-huge-table", "tensor embed_tokens.weight of shape [16777216, 4096] would hold more than 2^32 values", with_(vocab_size=1 << 24, hidden_size=4096, head_dim=1024, matryoshka_dims=[64]))
cfg("config-negative-hidden", "invalid value: integer `-64`", with_(hidden_size=-64))
cfg("config-float-hidden", "invalid type: floating point `64.5`", with_(hidden_size=64.5))
cfg("config-string-hidden", 'invalid type: string "64"', with_(hidden_size="64"))
cfg("config-overflow-hidden", "config.json", json.dumps(config).replace('"hidden_size": 64', '"hidden_size": 1' + "0" * 30))
cfg("config-unknown-family", 'model_type "bert" is not supported', with_(model_type="bert"))
cfg("config-heads-not-multiple", "must be a multiple of num_key_value_heads", with_(num_key_value_heads=3, num_attention_heads=4))
cfg("config-odd-head-dim", "must be even for RoPE", with_(head_dim=15))
cfg("config-negative-eps", "rms_norm_eps (-0.001) must be positive", with_(rms_norm_eps=-1e-3))
cfg("config-zero-theta", "rope_theta (0) must be positive", with_(rope_theta=0))
cfg("config-nan-theta", "config.json", json.dumps(config).replace('"rope_theta": 10000.0', '"rope_theta": NaN'))
cfg("config-gelu", 'hidden_act "gelu" is not supported', with_(hidden_act="gelu"))
cfg("config-rope-scaling", "rope_scaling is not supported", with_(rope_scaling={"type": "yarn", "factor": 4.0}))
cfg("config-unknown-pooling", "unknown variant `max`", with_(pooling="max"))
cfg("config-matryoshka-zero", "matryoshka_dims entry 0 must be in 1..=64", with_(matryoshka_dims=[0, 64]))
cfg("config-matryoshka-too-big", "matryoshka_dims entry 128 must be in 1..=64", with_(matryoshka_dims=[32, 128]))
cfg("config-wider-than-weights", "has shape [256, 64] but the config needs [256, 128]", with_(hidden_size=128))
cfg("config-fewer-layers", "unexpected tensor layers.1.", with_(num_hidden_layers=1))
cfg("config-more-layers", "missing tensor layers.2.", with_(num_hidden_layers=3))
cfg("config-smaller-vocab", "the tokenizer has 256 tokens but the embedding table only 200 rows", with_(vocab_size=200))

# ------------------------------------------------------- model.safetensors (model/)
st = (TINY / "model.safetensors").read_bytes()
n = struct.unpack("<Q", st[:8])[0]
header = json.loads(st[8 : 8 + n])
data = st[8 + n :]
names = [k for k in header if k != "__metadata__"]


def safetensors(h, body=None):
    raw = json.dumps(h).encode()
    return struct.pack("<Q", len(raw)) + raw + (data if body is None else body)


def tensors_of(h, body):
    """name -> (dtype, shape, bytes) of a safetensors header and body."""
    return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0] : v["data_offsets"][1]]) for k, v in h.items() if k != "__metadata__"}


def relaid(ts):
    """A valid safetensors layout (contiguous offsets) of name -> (dtype, shape, bytes)."""
    h, body, at = {}, b"", 0
    for k, (dtype, shape, blob) in ts.items():
        h[k] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(blob)]}
        body += blob
        at += len(blob)
    return safetensors(h, body)


def stcase(name, expect, blob):
    write(f"model/{name}/model.safetensors", blob)
    case(f"model/{name}", expect)


def edit(fn):
    h = json.loads(json.dumps(header))
    fn(h)
    return h


stcase("st-empty", "model.safetensors: not a valid safetensors file", b"")
stcase("st-four-bytes", "model.safetensors: not a valid safetensors file", b"\x10\x00\x00\x00")
stcase("st-header-len-2-60", "model.safetensors: not a valid safetensors file", struct.pack("<Q", 1 << 60) + st[8:])
stcase("st-header-len-past-end", "model.safetensors: not a valid safetensors file", struct.pack("<Q", len(st)) + st[8:])
stcase("st-header-len-zero", "model.safetensors: not a valid safetensors file", struct.pack("<Q", 0) + st[8:])
stcase("st-header-not-json", "model.safetensors: not a valid safetensors file", struct.pack("<Q", 12) + b"not json!!!!" + data)
stcase("st-header-array", "model.safetensors: not a valid safetensors file", struct.pack("<Q", 2) + b"[]" + data)
stcase("st-header-invalid-utf8", "model.safetensors: not a valid safetensors file", struct.pack("<Q", n) + st[8:20] + b"\xff\xfe" + st[22:])
stcase("st-header-nested-bomb", "model.safetensors: not a valid safetensors file", struct.pack("<Q", 200_000) + b"[" * 100_000 + b"]" * 100_000 + data)
stcase("st-truncated-data", "model.safetensors: not a valid safetensors file", st[:-1000])
stcase("st-truncated-header", "model.safetensors: not a valid safetensors file", st[: 8 + n // 2])
stcase("st-trailing-garbage", "model.safetensors: not a valid safetensors file", st + b"\x00" * 64)
stcase("st-offsets-past-end", "model.safetensors: not a valid safetensors file",
       safetensors(edit(lambda h: h[names[-1]].__setitem__("data_offsets", [h[names[-1]]["data_offsets"][0], len(data) + 4096]))))
stcase("st-offsets-reversed", "model.safetensors: not a valid safetensors file",
       safetensors(edit(lambda h: h[names[0]].__setitem__("data_offsets", list(reversed(h[names[0]]["data_offsets"]))))))
stcase("st-offsets-overlap", "model.safetensors: not a valid safetensors file",
       safetensors(edit(lambda h: h[names[1]].__setitem__("data_offsets", [0, h[names[1]]["data_offsets"][1] - h[names[1]]["data_offsets"][0]]))))
stcase("st-offsets-negative", "model.safetensors: not a valid safetensors file",
       safetensors(edit(lambda h: h[names[0]].__setitem__("data_offsets", [-4, 100]))))
stcase("st-shape-size-mismatch", "model.safetensors: not a valid safetensors file",
       safetensors(edit(lambda h: h[names[0]].__setitem__("shape", [h[names[0]]["shape"][0], h[names[0]]["shape"][1] + 1]))))
stcase("st-shape-huge", "model.safetensors: not a valid safetensors file",
       safetensors(edit(lambda h: h[names[0]].__setitem__("shape", [1 << 40, 1 << 40]))))
stcase("st-shape-overflow", "model.safetensors: not a valid safetensors file",
       safetensors(edit(lambda h: h[names[0]].__setitem__("shape", [1 << 62, 1 << 62, 16]))))
stcase("st-dtype-unknown", "model.safetensors: not a valid safetensors file", safetensors(edit(lambda h: h[names[0]].__setitem__("dtype", "Q9"))))
stcase("st-metadata-not-strings", "model.safetensors: not a valid safetensors file", safetensors(edit(lambda h: h.__setitem__("__metadata__", {"format": 5}))))


def retype(h, name, dtype):
    h[name]["dtype"] = dtype


# Same byte length as F32, other meanings.
stcase("st-dtype-i32", "has dtype I32; expected F32, F16 or BF16", safetensors(edit(lambda h: retype(h, names[0], "I32"))))
stcase("st-dtype-u32", "has dtype U32; expected F32, F16 or BF16", safetensors(edit(lambda h: retype(h, names[0], "U32"))))
# Same element count, other byte length: the header's offsets must then be wrong.
stcase("st-dtype-f64-short", "model.safetensors: not a valid safetensors file", safetensors(edit(lambda h: retype(h, names[0], "F64"))))
stcase("st-dtype-f16-long", "model.safetensors: not a valid safetensors file", safetensors(edit(lambda h: retype(h, names[0], "F16"))))
stcase("st-transposed", "has shape [64, 256] but the config needs [256, 64]",
       safetensors(edit(lambda h: h["model.embed_tokens.weight"].__setitem__("shape", list(reversed(h["model.embed_tokens.weight"]["shape"]))))))
tiny_tensors = tensors_of(header, data)
stcase("st-missing-tensor", "missing tensor norm.weight", relaid({k: v for k, v in tiny_tensors.items() if k != "model.norm.weight"}))
stcase("st-no-tensors", "missing tensor", safetensors({}, b""))
stcase("st-unexpected-tensor", "unexpected tensor extra.weight [64]", relaid({**tiny_tensors, "model.extra.weight": tiny_tensors["model.norm.weight"]}))
stcase("st-duplicate-after-prefix", "tensor norm.weight appears more than once", relaid({**tiny_tensors, "norm.weight": tiny_tensors["model.norm.weight"]}))
raw_dup = json.dumps(header)[:-1] + ', "model.norm.weight": ' + json.dumps(header["model.norm.weight"]) + "}"
stcase("st-duplicate-key", "model.safetensors: tensor model.norm.weight appears more than once in the header",
       struct.pack("<Q", len(raw_dup)) + raw_dup.encode() + data)


def poke(name, value):
    s, _ = header[name]["data_offsets"]
    body = bytearray(data)
    body[s + 4 * 3 : s + 4 * 4] = struct.pack("<f", value)
    return safetensors(header, bytes(body))


stcase("st-nan", "holds a non-finite value (NaN) at element 3", poke("model.layers.0.mlp.down_proj.weight", float("nan")))
stcase("st-inf", "holds a non-finite value (inf) at element 3", poke("model.norm.weight", float("inf")))
stcase("st-neg-inf", "holds a non-finite value (-inf) at element 3", poke("model.embed_tokens.weight", float("-inf")))

# ------------------------------------------------------- other model-folder faults (model/)
case("model/no-config", "config.json", remove=["config.json"])
case("model/no-tokenizer", "tokenizer.json", remove=["tokenizer.json"])
case("model/no-weights", "model.safetensors", remove=["model.safetensors"])
write("model/index-escapes/model.safetensors.index.json", json.dumps({"weight_map": {"norm.weight": "../../etc/passwd"}}))
case("model/index-escapes", "leaves the model folder")
write("model/index-missing-shard/model.safetensors.index.json", json.dumps({"weight_map": {"norm.weight": "model-00001-of-00002.safetensors"}}))
case("model/index-missing-shard", "model-00001-of-00002.safetensors")
write("model/index-not-json/model.safetensors.index.json", "{weight_map")
case("model/index-not-json", "model.safetensors.index.json")
write("model/pooling-two-modes/1_Pooling/config.json", json.dumps({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True}))
write("model/pooling-two-modes/config.json", json.dumps(with_(pooling=None)))
case("model/pooling-two-modes", "must enable exactly one of mean, cls, lasttoken")

# ------------------------------------------------------------------ tokenizer.json (model/)
tok = json.loads((TINY / "tokenizer.json").read_text())


def tokcase(name, expect, blob):
    write(f"model/{name}/tokenizer.json", blob if isinstance(blob, (bytes, str)) else json.dumps(blob))
    case(f"model/{name}", expect)


tokcase("tok-empty", "tokenizer", b"")
tokcase("tok-not-json", "tokenizer", b"<html>404</html>")
tokcase("tok-array", "tokenizer", b"[]")
tokcase("tok-truncated", "tokenizer", json.dumps(tok)[:500])
tokcase("tok-invalid-utf8", "tokenizer", json.dumps(tok).encode()[:100] + b"\xc3\x28" + json.dumps(tok).encode()[100:])
tokcase("tok-no-model", "tokenizer", {k: v for k, v in tok.items() if k != "model"})
tokcase("tok-unknown-model", "tokenizer", {**tok, "model": {"type": "Telepathy"}})
tokcase("tok-bomb-nesting", "tokenizer", "[" * 100_000 + "]" * 100_000)
# Found by fuzz/ (tokenizer target): a syntax error inside "decoder" made the tokenizers
# crate panic instead of failing.
import base64
tokcase("tok-fuzz-decoder-syntax", "not valid JSON", base64.b64decode("ewogICJhZGRlZF90b2tlbnMiOiBbXSwKICAiZGVjb2RlciI6IHsKICAgICJhZGRfcHJlZml4X3NwYWNlIjogZmFsc2UsCiAgICAidHJpbV9vZmZzZXsKICAiYWRkZWRfdG9rZW5zIjogW10sCiAgImRlY29kZXIiOnRzIjogdHJ1ZSwKICAgICJ0eXBlIjogIkJ5dGVMZXZlbCIsCiAgICAidXNlX3JlZ2V4IjogdHIgdWUKIHsKICB9"))
tokcase("tok-fuzz-decoder-number", "not valid JSON", base64.b64decode("ewogICJhZGRlZF90b2tlbnMiOiBbXSwKICAiZGVjb2RlciI6IHsKICAgICJhZGRfcHJlZml4X3NwYWNlIjogZmFsc2UsCiAgICAidHJpbV9vZmZzZXRzIjogdHJ1ZSwKICAgICJ1c2VfdHlwZSI6ICJCeXRlTGV2ZWwiLCAgICAgICLEmCI6IDI0LAogICAgICAixJkiOiAyNSwKICAgICAgIsSaIjogMjYsCiAgICAgICLEmyI6IDI3LAogICAgICAixJwiOiAyOCwKICAgICAgIsSdIjogMjksCiAgICAgICLEniI6IDMwLAogICAgICAizJ8iOiAzMSwKICAgICAgIsSgIjogMzIsCiAgICAgICLEoSI6IDEyNywKICAgICAgIsSiIjogMTI4LAogICAgICAixKMiOiAxMjksCiAgICAgICLEpCI6IDEzMCwKICAgICAgIsSlIjogMTMxLAogICAgICAixKYiOiAxODFlMTMwMDMyLAogICAgICAixKciOiAxMzMsCiAgICAgICLEqCI6IDEzNCwKICAgICAgIsSpIjogMTM1LAogICAgICAixKoiOiAxMzYsCiAgICAgICLEqyI6IDEzNywKICAgICAgIsSsIjogMTM4LAogICAgCiAgICAidXNlX3JlZ2V4IjogdHJ1ZQogIH0sCiAgIm1vZGVsIjogewogICAgImJ5dGVfZmFsbGJhY2siOiBmYWxzZSwKICAgICJjb250aW51aW5nX3N1YndvcmRfcHJlZml4IjogbnVsbCwKICAgICJkcm9wb3V0IjogbnVsbCwKICAgICJlbmRfb2Zfd29yZF9zdWZmaXgiOiBudWxsLAogICAgImZ1c2VfdW5rIjogZmFsc2UsCiAgICAiaWdub3JlX21lcmdlcyI6IGZhbHNlLAogICAgIm1lLnJnZXMiOiBbXSwKICAgICJ0eXBlIjogIkJQRSIsCiAgICAidW5rX3Rva2VuIjogbnVsbCwKICAgICJ2b2NhYiI6IHsKICAgICAgIiEiOiAzMywKICAgICAgIlwiIjogMzQsCiAgICAgICIjIjogMzUsCiAgICAgICIkIjogMzYsCiAgICAgICIlIjogMzcsCiAgICAgICImIjogMzgsCiAgICAgICInIjogMzksCiAgICAgICIoIjogNDAsCiAgICAgICIpIjogNDEsCiAgICAgICIqIjogNDIsCiAgICAgICIrIjogNDMsCiAgICAgICIsIjogNDQsCiAgICAgICItIjogNDUsCiAgICAgICIuIjogNDYsCiAgICAgICIvIjogNDcsCiAgICAgICIwIjogNDgsCiAgICAgICIxIjogNDksCiAgICAgICIyIjogNTAsCiAgICAgICIzIjogNTEsCiAgICAgICI0IjogNTIsCiAgICAgICI1IjogNTMsCiAgICAgICI2IjogNTQsCiAgICLFgCI6IDE1OCwKICAgICAgIsWBIjogMTU5LAogICAgICAixYIiOiAxNjAsCiAgICAgICLFgyI6IDE3MwogICAgfQogIH0sCiAgIm5vcm1hbGl6ZXIiOiBudWxsLAogICJwYWRkaW5nIjogbnVsbCwKICAicG9zdF9wcm9jZXNzb3IiOiBudWxsLAogICJwcmVfdG9rZW5pemVyIjogewogICAgImFkZF9wcmVmaXhfc3BhY2UiOiBmYWxzZSwKICAgICJ0cmltX29mZnNldHMiOiB0cnVlLAogICAgInR5cGUiOiAiQnl0ZUxldmVsIiwKICAgICJ1c2VfcmVnZXgiOiB0cnVlCiAgfSwKICAidHJ1bmNhdGlvbiI6IG51bGwsCiAgInZlcnNpb24iOiAiMS4wIgp9"))
tokcase("tok-precompiled-garbage", "the Precompiled normalizer cannot be read", {**tok, "normalizer": {"type": "Sequence", "normalizers": [{"type": "Precompiled", "precompiled_charsmap": "bm90IGEgY2hhcnNtYXA="}]}})
big_vocab = json.loads(json.dumps(tok))
big_vocab["model"]["vocab"] = {**big_vocab["model"]["vocab"], "zzzz": 4000}
tokcase("tok-ids-past-vocab", "the tokenizer has 257 tokens but the embedding table only 256 rows", big_vocab)

# ------------------------------------------------------------------------- packs (pack/)
PACK = OUT / "base-pack"
manifest = json.loads((PACK / "manifest.json").read_text())
shard = (PACK / "shard-00000.safetensors").read_bytes()


def mcase(name, expect, m=None, shard_bytes=None, raw=None, remove=()):
    if raw is not None:
        write(f"pack/{name}/manifest.json", raw)
    elif m is not None:
        write(f"pack/{name}/manifest.json", json.dumps(m, indent=1))
    if shard_bytes is not None:
        write(f"pack/{name}/shard-00000.safetensors", shard_bytes)
    if raw is None and m is None and shard_bytes is None:
        (OUT / f"pack/{name}").mkdir(parents=True, exist_ok=True)
    case(f"pack/{name}", expect, remove)


def medit(fn):
    m = json.loads(json.dumps(manifest))
    fn(m)
    return m


mcase("manifest-empty", "manifest.json", raw=b"")
mcase("manifest-not-json", "manifest.json", raw=b"format: conan-pack")
mcase("manifest-truncated", "manifest.json", raw=json.dumps(manifest)[:300])
mcase("manifest-invalid-utf8", "manifest.json", raw=json.dumps(manifest).encode()[:50] + b"\xff" + json.dumps(manifest).encode()[50:])
mcase("manifest-bomb-nesting", "manifest.json", raw="[" * 100_000 + "]" * 100_000)
mcase("manifest-wrong-format", 'format "gguf" version 1 is not conan-pack version 1', medit(lambda m: m.__setitem__("format", "gguf")))
mcase("manifest-future-version", "version 99 is not conan-pack version 1", medit(lambda m: m.__setitem__("version", 99)))
mcase("manifest-no-shards-field", "missing field `shards`", medit(lambda m: m.pop("shards")))
mcase("manifest-no-config", "missing field `config`", medit(lambda m: m.pop("config")))
mcase("manifest-bad-config", "hidden_size must be positive", medit(lambda m: m["config"].__setitem__("hidden_size", 0)))
mcase("manifest-huge-config", "vocab_size = 1073741824 is implausibly large", medit(lambda m: m["config"].__setitem__("vocab_size", 1 << 30)))
mcase("manifest-shard-traversal", "shard 0 has an unsafe file name", medit(lambda m: m["shards"][0].__setitem__("file", "../secret.safetensors")))
mcase("manifest-shard-absolute", "shard 0 has an unsafe file name", medit(lambda m: m["shards"][0].__setitem__("file", "/etc/passwd")))
mcase("manifest-shard-empty-name", "shard 0 has an unsafe file name", medit(lambda m: m["shards"][0].__setitem__("file", "")))
mcase("manifest-unknown-encoding", "unknown variant `q3`", medit(lambda m: m["tensors"]["norm.weight"].__setitem__("encoding", "q3")))
mcase("manifest-negative-bytes", "invalid value: integer `-1`", medit(lambda m: m["shards"][0].__setitem__("bytes", -1)))
mcase("manifest-size-mismatch", "shard-00000.safetensors", medit(lambda m: m["shards"][0].__setitem__("bytes", m["shards"][0]["bytes"] + 1)))
mcase("manifest-shard-2gib", "2147483648", medit(lambda m: m["shards"][0].__setitem__("bytes", 1 << 31)))
mcase("manifest-hash-mismatch", "shard-00000.safetensors", medit(lambda m: m["shards"][0].__setitem__("sha256", "0" * 64)))
mcase("manifest-hash-not-hex", "shard-00000.safetensors", medit(lambda m: m["shards"][0].__setitem__("sha256", "xyz")))
mcase("manifest-tensor-missing", "norm.weight", medit(lambda m: m["tensors"].pop("norm.weight")))
mcase("manifest-tensor-extra", "extra.weight", medit(lambda m: m["tensors"].__setitem__("extra.weight", m["tensors"]["norm.weight"])))
mcase("manifest-part-bad-shard", "norm.weight", medit(lambda m: m["tensors"]["norm.weight"]["parts"][0].__setitem__("shard", 7)))
mcase("manifest-part-rows-gap", "embed_tokens.weight", medit(lambda m: m["tensors"]["embed_tokens.weight"]["parts"][0].__setitem__("rows", [1, 256])))
mcase("manifest-part-rows-past-end", "tensor embed_tokens.weight part 0 covers rows 0..1073741824", medit(lambda m: m["tensors"]["embed_tokens.weight"]["parts"][0].__setitem__("rows", [0, 1 << 30])))
mcase("manifest-shape-mismatch", "embed_tokens.weight", medit(lambda m: m["tensors"]["embed_tokens.weight"].__setitem__("shape", [256, 32])))
mcase("manifest-no-parts", "norm.weight", medit(lambda m: m["tensors"]["norm.weight"].__setitem__("parts", [])))
mcase("manifest-tokenizer-missing", "tok.json", medit(lambda m: m.__setitem__("tokenizer", "tok.json")))
mcase("shard-missing", "shard-00000.safetensors", remove=["shard-00000.safetensors"])
mcase("shard-truncated", "shard-00000.safetensors", shard_bytes=shard[:-100])
mcase("shard-flipped-byte", "shard-00000.safetensors", shard_bytes=shard[:5000] + bytes([shard[5000] ^ 1]) + shard[5001:])
mcase("shard-empty", "shard-00000.safetensors", shard_bytes=b"")


def resigned(body, name):
    """A shard whose manifest entry is updated to match: the damage is inside it."""
    import hashlib

    m = medit(lambda m: m["shards"][0].update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest()))
    mcase(name[0], name[1], m, body)


sn = struct.unpack("<Q", shard[:8])[0]
sh = json.loads(shard[8 : 8 + sn])
sdata = shard[8 + sn :]


def shard_with(h, body=sdata):
    raw = json.dumps(h).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def scale_poke(value):
    key = next(k for k in sorted(sh) if k.endswith(".s"))
    s, _ = sh[key]["data_offsets"]
    body = bytearray(sdata)
    body[s + 2 : s + 4] = struct.pack("<e", value)
    return shard[: 8 + sn] + bytes(body), key.split("#")[0]


body, tname = scale_poke(float("nan"))
resigned(body, ("shard-nan-scale", f"{tname} holds a non-finite"))
body, tname = scale_poke(float("inf"))
resigned(body, ("shard-inf-scale", f"{tname} holds a non-finite"))
shard_tensors = tensors_of(sh, sdata)
resigned(relaid({k: v for k, v in shard_tensors.items() if not k.startswith("norm.weight")}), ("shard-tensor-absent", "norm.weight"))
resigned(relaid({k: ("F32" if k.endswith(".q") else d, sh_, b) for k, (d, sh_, b) in shard_tensors.items()}), ("shard-wrong-code-dtype", "safetensors"))
resigned(relaid({**shard_tensors, "norm.weight#0": shard_tensors["norm.weight#0"], "extra#0": shard_tensors["norm.weight#0"]}), ("shard-extra-tensor", "holds extra#0, which manifest.json does not list"))
resigned(b"\x00" * 64, ("shard-garbage", "not a valid safetensors file"))
# ------------------------------------------------------------------------------ zips
tiny_files = {p.name: p.read_bytes() for p in sorted(TINY.iterdir())}


def zipped(entries, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, blob in entries:
            # A fixed timestamp keeps the files byte-identical from run to run.
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            z.writestr(info, b"" if name.endswith("/") else blob)
    return buf.getvalue()


good_zip = zipped([(f"tiny/{k}", v) for k, v in tiny_files.items()])


def zcase(name, expect, blob):
    write(f"zip/{name}.zip", blob)
    case(f"zip/{name}", expect)


zcase("empty", "not a readable zip", b"")
zcase("text", "not a readable zip", b"this is not a zip file at all\n" * 10)
zcase("truncated", "not a readable zip", good_zip[: len(good_zip) // 2])
zcase("no-files", "the zip holds no files", zipped([]))
zcase("only-folders", "the zip holds no files", zipped([("tiny/", b""), ("tiny/sub/", b"")]))
zcase("unrelated-files", "config.json", zipped([("notes.txt", b"hello"), ("photo.jpg", b"\xff\xd8\xff")]))
zcase("missing-weights", "model.safetensors", zipped([(f"tiny/{k}", v) for k, v in tiny_files.items() if k != "model.safetensors"]))
zcase("two-folders", "config.json", zipped([(f"a/{k}", v) for k, v in tiny_files.items()] + [("b/readme.txt", b"x")]))
zcase("bad-config-inside", "hidden_size must be positive", zipped([(f"tiny/{k}", json.dumps(with_(hidden_size=0)).encode() if k == "config.json" else v) for k, v in tiny_files.items()]))
# A local header and central directory that claim 2^40 bytes for one entry.
huge = bytearray(zipped([("tiny/config.json", b"{}")], zipfile.ZIP_STORED))
for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    i = huge.find(sig)
    huge[i + off : i + off + 4] = struct.pack("<I", 0xFFFFFFF0)
zcase("size-field-huge", "zip", bytes(huge))
bad_crc = bytearray(zipped([(f"tiny/{k}", v) for k, v in tiny_files.items()], zipfile.ZIP_STORED))
i = bad_crc.find(b'"model_type"')
bad_crc[i + 2] ^= 0x20  # stored data no longer matches its CRC-32
zcase("bad-crc", "tiny/config.json: Invalid checksum", bytes(bad_crc))
unsupported = bytearray(zipped([("tiny/config.json", b"{}")], zipfile.ZIP_STORED))
for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
    i = unsupported.find(sig)
    unsupported[i + off : i + off + 2] = struct.pack("<H", 99)  # AES / unknown method
zcase("unsupported-method", "compression method not supported", bytes(unsupported))

# --------------------------------------------------------------------------- tasks (task/)
def task(name, expect, files):
    for fname, blob in files.items():
        write(f"task/{name}/{fname}", blob if isinstance(blob, (bytes, str)) else blob)
    if not files:
        (OUT / f"task/{name}").mkdir(parents=True, exist_ok=True)
    case(f"task/{name}", expect)


def meta(t, **kw):
    return json.dumps({"name": f"bad-{t}", "type": t, "languages": ["zh", "en"], "description": "malformed on purpose", "license": "CC BY 2.0 FR", **kw})


def jl(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


corpus = jl([{"_id": f"d{i}", "text": t} for i, t in enumerate(["我喜欢猫。", "I like cats.", "天气很好。"])])
queries = jl([{"_id": "q0", "text": "cats"}])
QH = "query-id\tcorpus-id\tscore\n"
pairs = jl([{"sentence1": "我喜欢猫。", "sentence2": "I like cats."}, {"sentence1": "天气很好。", "sentence2": "The weather is nice."}])
labelled = jl([{"text": "我喜欢猫。", "label": "animals"}, {"text": "天气很好。", "label": "weather"}])
task("no-task-json", "task.json: is missing", {})
task("task-json-empty", "task.json", {"task.json": ""})
task("task-json-not-json", "task.json", {"task.json": "name: x"})
task("task-json-bomb", "task.json", {"task.json": "[" * 100_000 + "]" * 100_000})
task("unknown-type", "unknown variant `regression`", {"task.json": meta("regression")})
task("empty-name", "name is empty", {"task.json": meta("bitext", name="")})
task("samples-per-label-zero", "samples_per_label must be at least 1", {"task.json": meta("classification", samples_per_label=0), "train.jsonl": labelled, "test.jsonl": labelled})
task("retrieval-no-corpus", "corpus.jsonl: is missing", {"task.json": meta("retrieval"), "queries.jsonl": queries, "qrels.tsv": QH + "q0\td1\t1\n"})
task("retrieval-no-qrels", "qrels.tsv: is missing", {"task.json": meta("retrieval"), "corpus.jsonl": corpus, "queries.jsonl": queries})
task("retrieval-empty-corpus", "corpus.jsonl", {"task.json": meta("retrieval"), "corpus.jsonl": "", "queries.jsonl": queries, "qrels.tsv": QH + "q0\td1\t1\n"})
task("retrieval-bad-line", "corpus.jsonl line 2", {"task.json": meta("retrieval"), "corpus.jsonl": corpus.replace('"_id": "d1"', '"_id" "d1"'), "queries.jsonl": queries, "qrels.tsv": QH + "q0\td1\t1\n"})
task("retrieval-missing-text", "corpus.jsonl line 1", {"task.json": meta("retrieval"), "corpus.jsonl": jl([{"_id": "d0"}]), "queries.jsonl": queries, "qrels.tsv": QH + "q0\td0\t1\n"})
task("retrieval-text-not-string", "corpus.jsonl line 1", {"task.json": meta("retrieval"), "corpus.jsonl": jl([{"_id": "d0", "text": 5}]), "queries.jsonl": queries, "qrels.tsv": QH + "q0\td0\t1\n"})
task("retrieval-duplicate-id", "corpus.jsonl", {"task.json": meta("retrieval"), "corpus.jsonl": corpus + jl([{"_id": "d0", "text": "again"}]), "queries.jsonl": queries, "qrels.tsv": QH + "q0\td1\t1\n"})
task("retrieval-invalid-utf8", "corpus.jsonl", {"task.json": meta("retrieval"), "corpus.jsonl": corpus.encode()[:20] + b"\xff\xfe" + corpus.encode()[20:], "queries.jsonl": queries, "qrels.tsv": QH + "q0\td1\t1\n"})
task("qrels-unknown-doc", "qrels.tsv line 2: unknown corpus id \"d99\"", {"task.json": meta("retrieval"), "corpus.jsonl": corpus, "queries.jsonl": queries, "qrels.tsv": QH + "q0\td99\t1\n"})
task("qrels-unknown-query", "qrels.tsv line 2: unknown query id \"q7\"", {"task.json": meta("retrieval"), "corpus.jsonl": corpus, "queries.jsonl": queries, "qrels.tsv": QH + "q7\td1\t1\n"})
task("qrels-bad-score", "qrels.tsv line 2: score \"very\" is not an integer", {"task.json": meta("retrieval"), "corpus.jsonl": corpus, "queries.jsonl": queries, "qrels.tsv": QH + "q0\td1\tvery\n"})
task("qrels-two-columns", "qrels.tsv line 2", {"task.json": meta("retrieval"), "corpus.jsonl": corpus, "queries.jsonl": queries, "qrels.tsv": QH + "q0\td1\n"})
task("qrels-empty", "qrels.tsv", {"task.json": meta("retrieval"), "corpus.jsonl": corpus, "queries.jsonl": queries, "qrels.tsv": ""})
task("bitext-no-pairs-file", "pairs.jsonl: is missing", {"task.json": meta("bitext")})
task("bitext-empty", "pairs.jsonl", {"task.json": meta("bitext"), "pairs.jsonl": ""})
task("bitext-missing-field", "pairs.jsonl line 1", {"task.json": meta("bitext"), "pairs.jsonl": jl([{"sentence1": "x"}])})
task("bitext-blank-lines-only", "pairs.jsonl", {"task.json": meta("bitext"), "pairs.jsonl": "\n\n\n"})
task("bitext-array-line", "pairs.jsonl line 1", {"task.json": meta("bitext"), "pairs.jsonl": "[1, 2]\n"})
task("sts-score-not-number", "pairs.jsonl line 1", {"task.json": meta("sts"), "pairs.jsonl": jl([{"sentence1": "a", "sentence2": "b", "score": "high"}])})
task("pair-label-missing", "pairs.jsonl line 1", {"task.json": meta("pair"), "pairs.jsonl": jl([{"sentence1": "a", "sentence2": "b"}])})
task("classification-one-class", "train.jsonl: has 1 label(s); at least 2 are needed", {"task.json": meta("classification"), "train.jsonl": jl([{"text": "a", "label": "x"}, {"text": "b", "label": "x"}]), "test.jsonl": jl([{"text": "c", "label": "x"}])})
task("classification-unknown-test-label", "test.jsonl", {"task.json": meta("classification"), "train.jsonl": labelled, "test.jsonl": jl([{"text": "c", "label": "sports"}])})
task("classification-no-test", "test.jsonl: is missing", {"task.json": meta("classification"), "train.jsonl": labelled})
task("classification-label-number", "train.jsonl line 1", {"task.json": meta("classification"), "train.jsonl": jl([{"text": "a", "label": {"name": "x"}}]), "test.jsonl": labelled})
task("clustering-no-data", "data.jsonl: is missing", {"task.json": meta("clustering")})
task("clustering-one-cluster", "data.jsonl", {"task.json": meta("clustering"), "data.jsonl": jl([{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])})
task("reranking-no-data", "data.jsonl: is missing", {"task.json": meta("reranking")})
task("reranking-bad-line", "data.jsonl line 1", {"task.json": meta("reranking"), "data.jsonl": "{\"query\": \n"})

# ---------------------------------------------------------------------- documents (document/)
def doc(name, expect, blob):
    write(f"document/{name}", blob)
    case(f"document/{name}", expect)


doc("scan.pdf", "scan.pdf: cannot split .pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
doc("report.docx", "report.docx: cannot split .docx", b"PK\x03\x04" + b"\x00" * 40)
doc("photo.jpg", "photo.jpg: cannot split .jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 40)
doc("empty.txt", "empty.txt", b"")
doc("blank.txt", "blank.txt", b"   \n\n\t\n  ")
doc("latin1.txt", "latin1.txt", "Café crème, naïve façade.\n".encode("latin-1"))
doc("utf16.txt", "utf16.txt", "我喜欢猫。\nI like cats.\n".encode("utf-16"))
doc("nul-bytes.txt", "nul-bytes.txt: holds a NUL byte at offset 5", b"hello\x00\x00\x00world\x00" * 10)
doc("empty.md", "empty.md", b"")
doc("bad.jsonl", "bad.jsonl: line 2", b'{"text": "fine"}\n{"text": oops}\n')
doc("no-text.jsonl", "no-text.jsonl: line 1", b'{"title": "no text field"}\n')
doc("text-number.jsonl", "text-number.jsonl: line 1", b'{"text": 42}\n')
doc("array.jsonl", "array.jsonl: line 1", b'["text", "in an array"]\n')
doc("empty.jsonl", "empty.jsonl", b"")
doc("bomb.jsonl", "bomb.jsonl: line 1", b"[" * 100_000 + b"]" * 100_000 + b"\n")
doc("invalid-utf8.jsonl", "invalid-utf8.jsonl", b'{"text": "caf\xe9"}\n')
doc("no-text-column.csv", "no-text-column.csv", b"title,body\nhello,world\n")
doc("empty.csv", "empty.csv", b"")
doc("header-only.csv", "header-only.csv", b"text\n")
doc("ragged.csv", "ragged.csv", b"id,text\n1,hello\n2,world,extra,fields\n")
doc("invalid-utf8.csv", "invalid-utf8.csv", b"text\ncaf\xe9\n")
doc("blank-texts.csv", "blank-texts.csv", b"id,text\n1,   \n2,\n")

OUT.joinpath("cases.json").write_text(json.dumps(dict(sorted(cases.items())), indent=1, ensure_ascii=False) + "\n")
print(f"{len(cases)} cases in {OUT.relative_to(ROOT)}")
