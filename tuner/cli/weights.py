"""``tuner weights``: ImageNet encoder weights kept in a local cache, for offline training.

``tuner weights fetch resnet34 mobilenet_v2`` (where the network is reachable) stores each
encoder's ImageNet weights in the cache; ``encoder_weights=imagenet`` then loads them
without the network, on this machine or on any machine the cache folder is copied to
(``TUNER_WEIGHTS_DIR`` points at a copy). ``tuner weights list`` shows what is cached.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tuner.cli.common import console, errors, user_errors

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ImageNet encoder weights in a local cache (encoder_weights=imagenet).")


@app.command("fetch")
@user_errors
def fetch_command(
    encoders: Annotated[list[str], typer.Argument(
        help="smp encoder names (resnet34, mobilenet_v2, ...) or tu-<timm model>")],
) -> None:
    """Download the ImageNet weights of ENCODERS into the local cache (needs the network
    once); encoder_weights=imagenet then uses them offline."""
    from tuner.training.models import fetch_imagenet

    for encoder in encoders:
        errors.print(f"fetching the ImageNet weights of {encoder} ...")
        file = fetch_imagenet(encoder)
        console.print(f"{encoder}: {file} ({file.stat().st_size / 2**20:.1f} MiB)")


@app.command("list")
@user_errors
def list_command() -> None:
    """The cache folder and the encoders whose ImageNet weights it holds."""
    from tuner.training.models import WEIGHTS_SUFFIXES, imagenet_dir

    folder = imagenet_dir()
    files = sorted(f for f in folder.glob("*") if f.suffix in WEIGHTS_SUFFIXES) \
        if folder.is_dir() else []
    console.print(f"ImageNet weights cache: {folder} ({len(files)} encoder(s))")
    for file in files:
        console.print(f"  {file.stem}  {file.stat().st_size / 2**20:.1f} MiB")
    if not files:
        console.print("  empty: 'tuner weights fetch ENCODER' fills it where the network "
                      "is reachable")
