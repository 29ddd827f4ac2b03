"""How wide must the classic UNet be, and do batch normalisation and dropout matter?

The question: the paper's UNet starts at 64 channels (31 M parameters); do 32, 16 or 8
(each halving quarters the parameters and, on a CPU, about halves the time per epoch)
segment as well on this data, with and without batch normalisation, and with the paper's
dropout of 0.5 at the bottom of the network or without it?

What to look at: the pivot of best validation Dice by base_channels x batchnorm, once per
dropout value, beside the seconds per epoch: the narrowest width whose Dice is within the
repeat noise of the best is the answer (it trains fastest and overfits least). Without
batch normalisation the UNet trains more slowly with Adam: compare the curves
(``tuner report``), not only the best value, before calling it worse.
"""

from tuner import StudySpec, categorical

study = StudySpec(
    name="unet_width",
    question="Which classic-UNet width (base 8/16/32/64), with or without batchnorm and "
             "dropout, gives the best validation Dice?",
    base=dict(arch="unet", optimizer="adam", lr=1e-3, scheduler="plateau", epochs=15),
    space=dict(
        base_channels=categorical([8, 16, 32, 64]),  # cheapest first
        batchnorm=categorical([True, False]),
        dropout=categorical([0.0, 0.5]),
    ),
    sampler="grid",
    pruner="hopeless",
)
