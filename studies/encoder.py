"""Which architecture and encoder segment best, and does a pretrained encoder need training?

The question: among smp's Unet, FPN and UnetPlusPlus on the two encoders people use most
(resnet34, and the small mobilenet_v2), which gives the best validation Dice; and, with
ImageNet weights, is fine-tuning the encoder worth it or does a frozen encoder (only the
decoder trains: faster, fewer parameters to overfit) do as well?

Freezing only means something for a pretrained encoder: a frozen random encoder is a
fixed random feature extractor (it reached validation Dice 0.01). So the frozen variants
are in the grid only when every encoder has pretrained weights:
- ``tuner weights fetch resnet34 mobilenet_v2`` once where the network is reachable, then
  ``tuner run studies/encoder.py`` uses that cache (``encoder_weights=imagenet``), offline;
- or ``--set encoder_weights=FOLDER`` with ``resnet34.safetensors`` and
  ``mobilenet_v2.safetensors`` in it.
Without weights the study compares the encoders trained from scratch, and says so in one
line when it loads.

What to look at: the pivot of best validation Dice by arch x encoder (x frozen), and the
seconds per epoch beside it (frozen and mobilenet_v2 trials are cheaper); on a small
dataset a frozen pretrained encoder close to the fine-tuned one is the cheaper answer.
The classic UNet's own question (its width) is ``studies/unet_width.py``.
"""

import sys

from tuner import StudySpec, categorical, setting
from tuner.training.models import FETCH_COMMAND, has_encoder_weights

ENCODERS = ["resnet34", "mobilenet_v2"]
WEIGHTS = setting("encoder_weights", "imagenet")  # the run's --set, else the ImageNet cache
PRETRAINED = all(has_encoder_weights(encoder, WEIGHTS) for encoder in ENCODERS)
if not PRETRAINED:
    print(f"encoder study: no pretrained weights for {' and '.join(ENCODERS)} "
          f"(encoder_weights={WEIGHTS}), so the frozen variants are left out and every "
          f"encoder trains from scratch; '{FETCH_COMMAND} {' '.join(ENCODERS)}' where the "
          "network is reachable adds them", file=sys.stderr)

study = StudySpec(
    name="encoder",
    question="Which architecture and encoder segment best; with pretrained weights, "
             "is a frozen encoder as good as a fine-tuned one?",
    base=dict(optimizer="adam", lr=1e-3, scheduler="plateau", epochs=15,
              encoder_weights=WEIGHTS if PRETRAINED else "none"),
    space=dict(
        arch=categorical(["Unet", "FPN", "UnetPlusPlus"]),
        encoder=categorical(ENCODERS),
        freeze_encoder=categorical([False, True] if PRETRAINED else [False]),
    ),
    sampler="grid",
    pruner="hopeless",
)
