"""Model FLOP counts (alptk/train/flops.py) against hand counts from the shapes, and benchmarks/train.py's MFU on
CPU. A hand count takes 2 FLOPs per multiply-add; a backward pass computes each input's gradient (where that input
needs one) at the cost of the forward product: twice the forward for a weight applied to activations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from alptk.data.tokenizer import train_tokenizer
from alptk.models.encoders import ConformerConfig, ConformerLayer
from alptk.models.frontend import FbankFrontend, FbankFrontendConfig
from alptk.train.config import load_train_config
from alptk.train.data import train_loader
from alptk.train.flops import flop_counter, peak_tflops, training_flops
from alptk.train.trainer import Runtime, Trainer
from tests.conftest import REPO, make_feature_dir
from tests.test_train import config_dict


def counted(run) -> int:
    """FLOPs counted while ``run()`` runs."""
    with flop_counter() as counter:
        run()
    return counter.get_total_flops()


def test_conformer_layer_flops_match_a_hand_count():
    batch, time, d, heads, ffn, kernel = 2, 12, 16, 2, 24, 5
    layer = ConformerLayer(d, ConformerConfig(layers=1, heads=heads, ffn_dim=ffn, kernel_size=kernel, dropout=0.0))
    x = torch.randn(batch, time, d, requires_grad=True)
    mask = torch.ones(batch, time, dtype=torch.bool)
    frames = batch * time
    feed_forward = 2 * (2 * frames * d * ffn)  # two linears, d -> ffn -> d; the layer has two such modules
    projections = 4 * 2 * frames * d * d  # query, key, value, out
    attention = 2 * 2 * batch * heads * time * time * (d // heads)  # scores = QK^T, then scores V, for every head
    pointwise = 2 * frames * d * (2 * d) + 2 * frames * d * d  # 1x1 convolutions d -> 2d (GLU) and d -> d
    depthwise = 2 * frames * d * kernel  # per channel, `kernel` taps over its own channel alone
    forward = 2 * feed_forward + projections + attention + pointwise + depthwise
    # every product's operands need gradients (x does, and weights do): the backward is twice the forward
    assert counted(lambda: layer(x, mask).sum().backward()) == 3 * forward


def test_frontend_flops_match_a_hand_count():
    batch, frames, channels, d = 3, 41, 4, 16
    frontend = FbankFrontend(d, FbankFrontendConfig(channels=channels, dropout=0.0, specaugment=None))
    feats = torch.randn(batch, frames, 80)  # data: no gradient of its own
    lengths = torch.full((batch,), frames)
    time1, freq1 = (frames - 3) // 2 + 1, (80 - 3) // 2 + 1  # 3x3 kernels, stride 2, no padding
    time2, freq2 = (time1 - 3) // 2 + 1, (freq1 - 3) // 2 + 1
    conv1 = 2 * batch * time1 * freq1 * 9 * 1 * channels
    conv2 = 2 * batch * time2 * freq2 * 9 * channels * channels
    project = 2 * batch * time2 * (channels * freq2) * d
    # the first convolution's input is data: its backward computes the weight's gradient alone
    expected = 2 * conv1 + 3 * conv2 + 3 * project
    assert counted(lambda: frontend(feats, lengths)[0].sum().backward()) == expected


def test_gpu_attention_kernels_count_as_the_cpu_one():
    """The fused GPU kernels' formulas, called on shapes (no GPU needed): backward twice the forward, no recompute."""
    batch, heads, queries, keys, width = 2, 3, 5, 7, 8
    query, grad_out = torch.empty(batch, heads, queries, width), torch.empty(batch, heads, queries, width)
    key = value = torch.empty(batch, heads, keys, width)
    forward = 2 * (2 * batch * heads * queries * keys * width)  # scores = QK^T, then scores V
    formulas = flop_counter().flop_registry
    aten = torch.ops.aten
    for kernel in ("flash_attention", "efficient_attention", "cudnn_attention", "flash_attention_for_cpu"):
        assert formulas[getattr(aten, f"_scaled_dot_product_{kernel}")](query, key, value, out_val=None) == forward
        backward = formulas[getattr(aten, f"_scaled_dot_product_{kernel}_backward")]
        assert backward(grad_out, query, key, value, out_val=None) == 2 * forward


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989.4),
        ("NVIDIA H100 PCIe", 756.5),
        ("NVIDIA H200", 989.4),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("NVIDIA L40S", 362.05),
        ("NVIDIA L4", 121.0),
        ("NVIDIA A10G", None),  # not the A10: unknown, so --peak-tflops is needed
        ("Tesla T4", None),
    ],
)
def test_peak_tflops_by_device_name(name: str, peak: float | None):
    assert peak_tflops(name) == peak


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recipe dir whose conf/pretrain.yaml trains a tiny model on every stream kind (speech, text, paired)."""
    root = tmp_path_factory.mktemp("recipe")
    make_feature_dir(root / "train", 16, seed=0)
    train_tokenizer([root / "train"], root / "tok", "char", 40, fields=["text", "text.fr"], symbols=["<mask>", "<fr>"])
    (root / "conf").mkdir()
    (root / "conf" / "pretrain.yaml").write_text(yaml.safe_dump(config_dict(root, valid={}, amp="none")))
    return root


def test_training_flops_count_each_batch_and_leave_no_trace(recipe: Path, tmp_path: Path):
    config = load_train_config(recipe / "conf" / "pretrain.yaml")
    trainer = Trainer(config, tmp_path, Runtime(0, 1, torch.device("cpu")))
    loader = iter(train_loader(config.streams, trainer.datasets, config.seed, False, 0, 1, 0))
    batches = [next(loader) for _ in range(3)]
    assert len({stream for stream, _ in batches}) == 3
    state = {name: tensor.clone() for name, tensor in trainer.module.state_dict().items()}
    rng = torch.get_rng_state()
    total = training_flops(trainer, batches)
    assert training_flops(trainer, batches) == total  # the same random masks: the generators were restored
    each = [training_flops(trainer, [batch]) for batch in batches]
    assert min(each) > 0 and sum(each) == pytest.approx(total, rel=0.01)  # mlm's random masks: its head's rows
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in trainer.module.parameters())
    assert all(torch.equal(tensor, state[name]) for name, tensor in trainer.module.state_dict().items())


def run_benchmark(recipe: Path, launcher: list[str]) -> str:
    command = [*launcher, str(REPO / "benchmarks" / "train.py"), "--recipe", str(recipe), "--steps", "6"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, "--peak-tflops", "0.5"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("processes", [1, 2])
def test_benchmark_reports_flops_and_mfu_on_cpu(recipe: Path, processes: int):
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29733"]
    out = run_benchmark(recipe, launcher)
    assert f"{processes} process(es)" in out and out.count("model FLOPs:") == 1  # rank 0 alone prints
    assert re.search(r"model FLOPs: [0-9.]+e\+0[5-9] per update of a process \(counted for the 5 timed updates", out)
    row = out.strip().splitlines()[-1].split()
    workers, tflops, mfu = int(row[0]), float(row[-2]), float(row[-1].rstrip("%")) / 100
    assert workers == 1 and tflops > 0
    assert mfu == pytest.approx(tflops / (0.5 * processes), abs=6e-4)  # printed to 0.1 %
