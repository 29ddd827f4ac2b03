"""Config overrides that make any study train in about a second (tests only)."""

TINY = dict(epochs=2, image_size=32, synthetic_images=24, base_channels=4, batch_size=8)
TINY_SETS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
