"""The ONNX exporter and the onnxruntime backend beyond the conformance suite: every head from one exported file at
several batch sizes and sequence lengths against the float64 NumPy reference, on held-out configs (several groups,
inner groups, relative positions, padding); the file's size against model.safetensors; float16; the command; the
errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from albert_onnx import build_graph, export_onnx

import albert_core
from albert_core import AlbertConfig
from albert_core.checkpoints import Checkpoint
from albert_core.errors import BackendError, ConfigError
from albert_core.tasks import MULTIPLE_CHOICE, TASKS

CONFIGS = {  # none of them is a conformance case
    "groups": dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=1, hidden_act="gelu_new"),
    "inner-groups": dict(num_hidden_layers=2, num_hidden_groups=1, inner_group_num=2, hidden_act="gelu"),
    "relative": dict(num_hidden_layers=3, num_hidden_groups=1, inner_group_num=1, hidden_act="gelu",
                     position_embedding_type="relative_key_query"),
}
SPIECE = Path(__file__).resolve().parents[4] / "shared/assets/albert-30k/spiece.model"  # the project's test vocabulary
SHAPES = ((1, 5), (3, 17), (2, 40))  # (batch, sequence), all through one file


def config(name: str) -> AlbertConfig:
    return AlbertConfig(vocab_size=70, embedding_size=12, hidden_size=24, num_attention_heads=3, intermediate_size=40,
                        max_position_embeddings=40, num_labels=2, **CONFIGS[name])


def checkpoint(name: str, task: str) -> Checkpoint:
    c = config(name)
    return Checkpoint(c, albert_core.init_params(c, task, seed=7), source=f"test:{name}")


def inputs(task: str, batch: int, seq: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch * 100 + seq)
    shape = (batch, 3, seq) if task == MULTIPLE_CHOICE else (batch, seq)
    mask = np.ones(shape, np.int64)
    mask[..., max(1, seq - 3):] = 0  # padding at the end of every row
    if batch >= 3:
        mask[1] = 0  # and a row of padding only (where a fused kernel may overflow on the mask fill)
    types = np.zeros(shape, np.int64)
    types[..., seq // 2:] = 1
    return {"input_ids": rng.integers(5, 70, shape), "attention_mask": mask, "token_type_ids": types}


def flat(out) -> dict[str, np.ndarray]:
    items = {}
    for key, value in out.items():
        for name, item in ([(f"{key}.{i}", v) for i, v in enumerate(value)] if isinstance(value, tuple)
                           else [(key, value)]):
            items[name] = np.asarray(item)
    return items


@pytest.mark.parametrize("optional", [False, True], ids=["fused-attention", "all-outputs"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("task", TASKS)
def test_every_head_from_one_file_matches_the_reference(tmp_path, name, task, optional):
    """Without optional outputs attention is ONNX's Attention node; returning the probabilities needs the core's
    body."""
    path = export_onnx(albert_core.load(checkpoint(name, task), backend="numpy", task=task), task,
                       tmp_path / "model.onnx", output_hidden_states=optional, output_attentions=optional)
    onnx.checker.check_model(str(path), full_check=True)
    assert ("Attention" in {n.op_type for n in onnx.load(str(path)).graph.node}) == (not optional)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    reference = albert_core.load(checkpoint(name, task), backend="numpy", task=task, dtype="float64")
    for batch, seq in SHAPES:
        feed = inputs(task, batch, seq)
        got = dict(zip(names, session.run(None, feed)))
        want = flat(reference(**feed, output_hidden_states=optional, output_attentions=optional))
        assert set(got) == set(want)
        for key, value in want.items():
            scale = max(1.0, float(np.abs(value).max()))
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5 * scale, err_msg=f"{key} {batch}x{seq}")


@pytest.mark.parametrize("name", ["groups", "inner-groups"])  # gelu_new and gelu
@pytest.mark.parametrize("opset", [17, 19, 20, 23])
def test_both_gelus_match_the_reference_as_onnx_gelu_and_before_it(name, opset):
    """From opset 20 both activations are one ONNX Gelu node (approximate "tanh" for gelu_new); before, the core's
    elementwise body."""
    task = "sequence-classification"
    model = albert_core.load(checkpoint(name, task), backend="numpy", task=task)
    graph = build_graph(model, task, opset=opset)
    gelus = [n for n in graph.graph.node if n.op_type == "Gelu"]
    c = config(name)
    assert len(gelus) == (c.num_hidden_layers * c.inner_group_num if opset >= 20 else 0)
    feed = inputs(task, 3, 17)
    got = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"]).run(["logits"], feed)
    want = albert_core.load(checkpoint(name, task), backend="numpy", task=task, dtype="float64")(**feed)
    np.testing.assert_allclose(got[0], want["logits"], rtol=1e-5, atol=1e-6)


def test_the_shared_weights_are_stored_once(tmp_path):
    """A base-shape model: the exported file against its model.safetensors (the issue's bound is 1.05x)."""
    model = albert_core.load("random:albert-base-v2", backend="numpy", task="base")
    albert_core.save(model, tmp_path / "hf", task="base")
    path = export_onnx(model, "base", tmp_path / "base.onnx")
    ratio = path.stat().st_size / (tmp_path / "hf/model.safetensors").stat().st_size
    assert ratio <= 1.05, ratio
    initializers = [t.name for t in onnx.load(str(path), load_external_data=False).graph.initializer]
    assert len([n for n in initializers if "albert_layer_groups.0.albert_layers.0.ffn.weight" in n]) == 1


def test_large_graphs_keep_their_weights_in_external_data(tmp_path, monkeypatch):
    import albert_onnx.export

    monkeypatch.setattr(albert_onnx.export, "EXTERNAL_DATA_BYTES", 0)  # as if the weights were over 1 GiB
    task = "sequence-classification"
    model = albert_core.load(checkpoint("groups", task), backend="numpy", task=task)
    export_onnx(model, task, tmp_path / "big.onnx")
    path = export_onnx(model, task, tmp_path / "big.onnx")  # again: the first export's data is replaced, not kept
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0] == "big.onnx" and re.fullmatch(r"big\.onnx\.[0-9a-f]{8}\.data", names[1])
    feed = inputs(task, 2, 9)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["logits"], feed)[0]
    want = albert_core.load(checkpoint("groups", task), backend="numpy", task=task, dtype="float64")(**feed)
    np.testing.assert_allclose(got, want["logits"], rtol=1e-5, atol=1e-6)


def test_float16_graphs_track_float32():
    task = "sequence-classification"
    want = albert_core.load(checkpoint("groups", task), backend="numpy", task=task, dtype="float64")
    half = albert_core.load(checkpoint("groups", task), backend="onnxruntime", task=task, dtype="float16")
    feed = inputs(task, 2, 17)
    np.testing.assert_allclose(half(**feed)["logits"].astype(np.float64), want(**feed)["logits"], atol=2e-2)


def test_the_backend_runs_pipelines_and_refuses_training():
    fill = albert_core.pipeline("fill-mask", model="random:tiny", backend="onnxruntime", tokenizer=str(SPIECE))
    reference = albert_core.pipeline("fill-mask", model="random:tiny", backend="numpy", tokenizer=str(SPIECE))
    text = "The capital of France is [MASK]."
    assert [r["token"] for r in fill(text)] == [r["token"] for r in reference(text)]
    with pytest.raises(BackendError, match="inference only"):
        albert_core.load("random:tiny", backend="onnxruntime", task="base", trainable=True)


def test_the_command_writes_a_checked_file(tmp_path):
    out = tmp_path / "classifier.onnx"
    done = subprocess.run([sys.executable, "-m", "albert_core", "export", "onnx", "random:tiny", "--task",
                           "sequence-classification", "--output", str(out), "--opset", "17"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["bytes"] == out.stat().st_size
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 17
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence"]


@pytest.mark.parametrize("options, needle", [({"opset": 12}, "--opset 12 is not supported; pass one of 17..23"),
                                             ({"dtype": "bfloat16"}, "--dtype 'bfloat16' cannot be exported")])
def test_bad_options_are_clear_errors(options, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        build_graph("random:tiny", "base", **options)
