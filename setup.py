"""alptk: audio-language pre-training toolkit."""

from pathlib import Path

from setuptools import find_packages, setup

version = {}
exec((Path(__file__).parent / "alptk" / "version.py").read_text(), version)

setup(
    name="alptk",
    version=version["__version__"],
    description="Audio-language pre-training toolkit: ESPnet-style recipes for joint speech+text models",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["alptk", "alptk.*"]),
    install_requires=[
        # torch and torchaudio are a matched pair: change both or neither.
        "torch==2.11.0",
        "torchaudio==2.11.0",
        "numpy>=1.24",
        "soundfile>=0.12",
        "kaldiio>=2.18",
        "sentencepiece>=0.2",
        "typer>=0.12",
        "rich>=13",
        "pyyaml>=6",
        "jiwer>=3",
        "espeakng-loader>=0.2.4",
        "sacrebleu>=2.4",
        "safetensors>=0.4",
        "matplotlib>=3.8",
        "tensorboard>=2.16",
    ],
    extras_require={"test": ["pytest>=8", "ruff>=0.6"], "hub": ["huggingface_hub>=0.23"]},
    entry_points={"console_scripts": ["alptk=alptk.cli:main"]},
)
