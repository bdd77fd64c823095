#!/usr/bin/python3
"""Makes the Pillow resize golden files that test_encoder compares against.

Run with Debian's python3-pil (9.4): /usr/bin/python3 tests/golden/make_pil_golden.py
CI never runs this; it decodes the committed PNG files (lossless) and compares bytes.
"""
import os
import sys

from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
shared = os.environ.get("VIDX_SHARED_DATA", os.path.join(here, "..", "..", "..", "shared", "data"))
img = Image.open(os.path.join(shared, "clip-golden", "bikes.png")).convert("RGB")
# CLIP's own shrink of this 640x272 frame, a strong shrink to odd sizes, an enlargement.
for w, h in [(527, 224), (97, 61), (900, 383)]:
    img.resize((w, h), Image.BICUBIC).save(os.path.join(here, f"bikes_{w}x{h}.png"))
print("Pillow", Image.__version__ if hasattr(Image, "__version__") else "", "source", img.size, file=sys.stderr)
