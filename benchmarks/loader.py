"""Start-up of the training data loader at LibriSpeech-960 scale: a synthetic feature directory of a million
utterances (``feats.scp`` entries pointing at offsets in one ark of 1,000 matrices, transcripts of ~30 words, ids
like LibriSpeech's), loaded as the trainer loads a stream (``stream_dataset``, ``usable_items``, ``train_loader``) up to
its first batch. Each figure comes from a fresh process, so its peak RSS is its own; matrices read are counted.
With ``--text-lines N``: a text stream over an LM-corpus-like ``text`` table of N lines (~20 words each, bpe 5000),
started three times: without a token cache (as before caches), building its cache, and mapping it.

    python benchmarks/loader.py                              # 1,000,000 utterances in a temporary directory
    python benchmarks/loader.py --utterances 100000 --dir /tmp/loader --keep
    python benchmarks/loader.py --text-lines 4000000 --dir /tmp/loader --keep
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kaldiio
import numpy as np

from alptk.data.fbank import FbankConfig, save_features_spec
from alptk.data.kaldi_dir import KaldiDir
from alptk.data.tokenizer import train_tokenizer
from alptk.files import remove, write_text

MEL_BINS = 80
SENTENCES = 20_000  # distinct word sequences, shared round-robin by the utterances
FRAMES_PER_WORD = 30  # ~3.3 words a second, LibriSpeech's pace: ~28 words on average
MEASUREMENTS = {
    "paired": "paired stream (fbank + bpe targets, ctc)",
    "speech": "speech-only stream",
    "workers": "paired stream, 2 workers, 50 batches",
}
TEXT_MEASUREMENTS = {
    "text-uncached": "text stream, no token cache (as before)",
    "text": "text stream, first start (builds the cache)",
    "text-mapped": "text stream, second start (maps the cache)",
}
WORDS_PER_LINE = 20  # the LibriSpeech LM corpus: ~800 M words in ~40 M lines
TEXT_CHUNK = 100_000  # lines generated at a time


def make_feature_dir(root: Path, utterances: int, matrices: int = 1000, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/data`` (what template stage 3 writes, ``feats.scp`` cycling over ``matrices`` fbank-like
    matrices of 100-1600 frames in one ark, transcripts as long as the audio) and a bpe tokenizer trained on the
    transcripts, ``root/tok``."""
    rng = np.random.default_rng(seed)
    data = root / "data"
    (data / "data").mkdir(parents=True, exist_ok=True)
    ark = data / "data" / "raw_fbank.1.ark"
    stats = np.zeros((2, MEL_BINS + 1))
    locations, frames = [], rng.integers(100, 1601, size=matrices)
    with open(ark, "wb") as f:
        for index, n in enumerate(frames):
            matrix = (10 + 3 * rng.standard_normal((n, MEL_BINS))).astype(np.float32)
            f.write(f"m{index} ".encode())
            locations.append(f"{ark}:{f.tell()}")
            kaldiio.matio.write_array(f, matrix)
            uses = len(range(index, utterances, matrices))
            stats += uses * np.array([[*matrix.sum(0), n], [*np.square(matrix, dtype=np.float64).sum(0), 0]])
    utts = librispeech_ids(utterances, rng)
    sentences = word_sequences(rng)
    texts = [" ".join(sentences[i % SENTENCES][: frames[i % matrices] // FRAMES_PER_WORD]) for i in range(utterances)]
    tables = {
        "feats.scp": {u: locations[i % matrices] for i, u in enumerate(utts)},
        "utt2num_frames": {u: str(frames[i % matrices]) for i, u in enumerate(utts)},
        "utt2spk": {u: u.split("-")[0] for u in utts},
        "text": dict(zip(utts, texts, strict=True)),
    }
    KaldiDir(tables).save(data)
    kaldiio.save_mat(str(data / "cmvn.ark"), stats)
    save_features_spec(data, FbankConfig(num_mel_bins=MEL_BINS))
    write_text(root / "sample.txt", "".join(f"{t}\n" for t in texts[:SENTENCES]))
    train_tokenizer([root / "sample.txt"], root / "tok", "bpe", 1000)
    return data, root / "tok"


def make_text_dir(root: Path, lines: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/lm_text/text``, ``lines`` lines ``lm-<line number> <words>`` as the LibriSpeech recipe prepares
    the LM corpus (~20 words a line from a Zipf-distributed vocabulary of 20,000 words), and a bpe 5000 tokenizer
    trained on its first 50,000 lines, ``root/tok_text``: the recipe's token type and size."""
    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "BCDFGHKLMNPRSTVW" for v in ("A", "E", "I", "O", "U", "EA", "OU", "Y")]
    vocabulary = np.array(["".join(rng.choice(syllables, size=rng.integers(1, 5))) for _ in range(20_000)], object)
    weights = 1 / np.arange(1, len(vocabulary) + 1)
    table = root / "lm_text" / "text"
    table.parent.mkdir(parents=True, exist_ok=True)
    with open(table, "w") as f:
        for first in range(1, lines + 1, TEXT_CHUNK):
            count = min(TEXT_CHUNK, lines + 1 - first)
            lengths = np.clip(rng.gamma(2.0, WORDS_PER_LINE / 2, size=count).round(), 1, 200).astype(np.int64)
            words = vocabulary[rng.choice(len(vocabulary), size=int(lengths.sum()), p=weights / weights.sum())]
            separators = np.full(len(words), " ", object)  # after each word: a space, or the end of its line
            separators[np.cumsum(lengths) - 1] = [f"\nlm-{n:09d} " for n in range(first + 1, first + count + 1)]
            separators[-1] = "\n"
            f.write(f"lm-{first:09d} " + "".join(itertools.chain.from_iterable(zip(words, separators, strict=True))))
    with open(table) as f:
        write_text(root / "sample_text.txt", "".join(line.split(" ", 1)[1] for line in itertools.islice(f, 50_000)))
    train_tokenizer([root / "sample_text.txt"], root / "tok_text", "bpe", 5000)
    return table.parent, root / "tok_text"


def librispeech_ids(count: int, rng: np.random.Generator) -> list[str]:
    """``<speaker>-<chapter>-<utterance>`` ids: ~420 utterances per speaker in 3 chapters, as in LibriSpeech-960."""
    speakers = rng.choice(np.arange(14, 9999), size=max(count // 420, 1), replace=False)
    chapters = rng.choice(np.arange(100, 999999), size=(len(speakers), 3), replace=False)
    per_speaker = -(-count // len(speakers))
    per_chapter = -(-per_speaker // 3)
    return [
        f"{speakers[s]}-{chapters[s, within // per_chapter]}-{within % per_chapter:04d}"
        for s, within in (divmod(i, per_speaker) for i in range(count))
    ]


def word_sequences(rng: np.random.Generator) -> list[list[str]]:
    """Upper-case sequences of 60 words from a Zipf-distributed vocabulary of 4,000 words."""
    syllables = [c + v for c in "BCDFGHKLMNPRSTVW" for v in ("A", "E", "I", "O", "U", "EA", "OU")]
    vocabulary = ["".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(4000)]
    weights = 1 / np.arange(1, len(vocabulary) + 1)
    words = rng.choice(len(vocabulary), size=(SENTENCES, 60), p=weights / weights.sum())
    return [[vocabulary[w] for w in row] for row in words]


def measure(kind: str, data: Path, tok: Path) -> dict[str, float]:
    """One measurement, in this process: the loader's start-up up to its first batch, its peak RSS and the number
    of matrices read, and the building of one epoch's batches (or a worker's memory after 50 batches)."""
    import torch  # noqa: F401  (imported before the clock starts, as in the trainer)

    from alptk.data import sources
    from alptk.data.batching import BucketBatchSampler
    from alptk.data.tokenizer import Tokenizer
    from alptk.models.frontend import FbankFrontend
    from alptk.train.config import StreamConfig
    from alptk.train.data import stream_dataset, train_loader, usable_items

    reads = [0]
    read_object = sources.read_object

    def counted(*args, **kwargs):
        reads[0] += 1
        return read_object(*args, **kwargs)

    sources.read_object = counted
    stream = StreamConfig("speech" if kind == "speech" else "paired", [str(data)])
    start, cpu_start = time.perf_counter(), time.process_time()
    dataset = stream_dataset(kind, stream, Tokenizer(tok))
    dataset = usable_items(kind, dataset, FbankFrontend.subsampled, ctc=kind != "speech")
    loaded = time.perf_counter()
    workers = 2 if kind == "workers" else 0
    loader = iter(train_loader({kind: stream}, {kind: dataset}, 0, True, 0, 1, workers))
    _, batch = next(loader)
    first = time.perf_counter()
    result = {
        "load_s": loaded - start,
        "first_batch_s": first - start,
        "first_batch_cpu_s": time.process_time() - cpu_start,
        "matrices_read": reads[0],
        "batch_size": len(batch.utts),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    if kind == "workers":
        for _ in range(49):
            next(loader)
        memory = [worker_memory(pid) for pid in child_pids()]
        result["worker_rss_gib"] = max(rss for rss, _ in memory)
        result["worker_private_gib"] = max(private for _, private in memory)
        result["epoch_private_gib"] = private_after_lookups(dataset.dataset.datasets)
    else:
        sampler = BucketBatchSampler(dataset.lengths, stream.max_frames, seed=1)
        before, started = reads[0], time.perf_counter()
        batches = sampler.epoch_batches(0)
        result["epoch_batches_s"] = time.perf_counter() - started
        result["epoch_batches"] = len(batches)
        result["epoch_matrices_read"] = reads[0] - before
    return result


def measure_text(kind: str, data: Path, tok: Path) -> dict[str, float]:
    """A text stream's start-up in this process, as the trainer starts it (``stream_dataset``, ``train_loader``) up
    to its first batch: time, and memory after loading and at the end, resident in all and anonymous (the rest is
    file pages: the mapped cache, shared by the processes that map it)."""
    import torch  # noqa: F401  (imported before the clock starts, as in the trainer)

    from alptk.data import token_cache
    from alptk.data.tokenizer import Tokenizer
    from alptk.train.config import StreamConfig
    from alptk.train.data import stream_dataset, train_loader

    if kind == "text-uncached":
        token_cache.CACHED_BYTES = 2**62
    stream = StreamConfig("text", [str(data)], max_tokens=24000)
    start, cpu_start = time.perf_counter(), time.process_time()
    dataset = stream_dataset("text", stream, Tokenizer(tok))
    loaded, after_load = time.perf_counter(), memory_status()
    _, batch = next(iter(train_loader({"text": stream}, {"text": dataset}, 0, True, 0, 1, 0)))
    return {
        "load_s": loaded - start,
        "first_batch_s": time.perf_counter() - start,
        "first_batch_cpu_s": time.process_time() - cpu_start,
        "batch_size": len(batch.utts),
        "lines": len(dataset),
        "tokens": int(dataset.lengths.sum()),
        "load_rss_gib": after_load["VmRSS"],
        "load_anon_gib": after_load["RssAnon"],
        **{f"end_{name}_gib": value for name, value in memory_status().items()},
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def memory_status() -> dict[str, float]:
    """This process's resident memory in GiB: all of it (``VmRSS``), anonymous and file pages."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {name: int(fields[name].split()[0]) / 2**20 for name in ("VmRSS", "RssAnon", "RssFile")}


def private_after_lookups(parts: list) -> float:
    """The private memory (GiB) of a forked process after it looked up every item's id, ark location and tokens
    (what a worker's epoch touches but the matrices) and collected garbage: the pages it had to copy."""
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        for part in parts:
            for index in range(len(part)):
                part.utts[index], part.locations[index], part.tokens[index]
        gc.collect()
        os.write(write_end, str(worker_memory(os.getpid())[1]).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        return float(f.read())


def child_pids() -> list[int]:
    return [int(pid) for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()]


def worker_memory(pid: int) -> tuple[float, float]:
    """A process's resident and private (not shared with its parent) memory in GiB, from ``smaps_rollup``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    kib = {name: int(value.split()[0]) for name, value in fields.items()}
    return kib["Rss"] / 2**20, (kib["Private_Clean"] + kib["Private_Dirty"]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="where to build the data (default: the system's temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the data in --dir/loader_<utterances>; reuse it")
    parser.add_argument("--text-lines", type=int, help="measure a text stream of this many lines instead")
    parser.add_argument("--measure", choices=[*MEASUREMENTS, *TEXT_MEASUREMENTS], help=argparse.SUPPRESS)  # as JSON
    args = parser.parse_args()
    if args.measure in TEXT_MEASUREMENTS:
        print(json.dumps(measure_text(args.measure, args.dir / "lm_text", args.dir / "tok_text")))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.dir / "data", args.dir / "tok")))
        return
    if args.text_lines:
        text_main(args.text_lines, args.dir, args.keep)
        return
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = (args.dir or Path.cwd()) / f"loader_{args.utterances}" if args.keep else Path(tmp)
        if not (root / "tok").is_dir():
            started = time.perf_counter()
            make_feature_dir(root, args.utterances)
            print(f"built {args.utterances:,} utterances in {time.perf_counter() - started:.0f} s under {root}")
        sizes = {name: (root / "data" / name).stat().st_size / 1e6 for name in ("feats.scp", "text")}
        ark = next((root / "data" / "data").glob("*.ark")).stat().st_size / 1e6
        print(f"feats.scp {sizes['feats.scp']:.0f} MB, text {sizes['text']:.0f} MB, one ark of {ark:.0f} MB")
        print(f"{'':42s} {'load s':>7s} {'1st batch s':>11s} {'(CPU s)':>8s} {'peak RSS GiB':>12s}  matrices read")
        for kind, label in MEASUREMENTS.items():
            command = [sys.executable, __file__, "--measure", kind, "--dir", str(root)]
            out = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            read = f"{out['matrices_read']} ({out['batch_size']} in the batch)" if kind != "workers" else "(in workers)"
            print(
                f"{label:42s} {out['load_s']:7.1f} {out['first_batch_s']:11.1f} {out['first_batch_cpu_s']:8.1f} "
                f"{out['peak_rss_gib']:12.2f}  {read}"
            )
            if kind == "workers":
                rss, private = out["worker_rss_gib"], out["worker_private_gib"]
                print(f"{'':4s}each worker: {rss:.2f} GiB RSS, {private:.2f} GiB of it private (not shared)")
                print(f"{'':4s}a worker after an epoch of lookups: {out['epoch_private_gib']:.2f} GiB private")
            else:
                print(
                    f"{'':4s}one epoch's batches: {out['epoch_batches']:,} in {out['epoch_batches_s']:.2f} s, "
                    f"{out['epoch_matrices_read']} matrices read"
                )


def text_main(lines: int, where: Path | None, keep: bool) -> None:
    """Start a text stream of ``lines`` lines three times, each in its own process: without a cache, building it,
    mapping it."""
    if where:
        where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = (where or Path.cwd()) / f"text_{lines}" if keep else Path(tmp)
        if not (root / "tok_text").is_dir():
            started = time.perf_counter()
            make_text_dir(root, lines)
            print(f"built {lines:,} lines in {time.perf_counter() - started:.0f} s under {root}")
        remove(root / "lm_text" / ".cache")
        print(f"text {(root / 'lm_text' / 'text').stat().st_size / 1e6:.0f} MB")
        print(f"{'':44s} {'load s':>7s} {'1st batch s':>11s} {'(CPU s)':>8s} {'RSS GiB: peak':>13s} "
              f"{'loaded (anon)':>13s} {'end (anon)':>10s}")  # fmt: skip
        for kind, label in TEXT_MEASUREMENTS.items():
            command = [sys.executable, __file__, "--measure", kind, "--dir", str(root)]
            out = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            print(
                f"{label:44s} {out['load_s']:7.1f} {out['first_batch_s']:11.1f} {out['first_batch_cpu_s']:8.1f} "
                f"{out['peak_rss_gib']:13.2f} {out['load_rss_gib']:6.2f} ({out['load_anon_gib']:4.2f}) "
                f"{out['end_VmRSS_gib']:4.2f} ({out['end_RssAnon_gib']:4.2f})"
            )
        cache = next((root / "lm_text" / ".cache").glob("text.*[0-9a-f]"))
        size = sum(f.stat().st_size for f in cache.iterdir()) / 1e6
        print(f"{out['lines']:,} lines, {out['tokens']:,} tokens; the cache: {size:.0f} MB")


if __name__ == "__main__":
    main()
