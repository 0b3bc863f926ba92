"""The example data shipped beside the example configs is what pipelines/examples/make_examples.py writes (its
promise: a fixed seed, the same files every time), so the files can be regenerated and reviewed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from kerashpo.pipelines.examples import make_examples


def test_the_shipped_tables_are_what_the_script_writes():
    assert make_examples.churn().to_csv(index=False) == (make_examples.HERE / "churn.csv").read_text()
    assert make_examples.houses().to_csv(index=False) == (make_examples.HERE / "houses.csv").read_text()


def test_the_shipped_images_are_what_the_script_draws(tmp_path):
    make_examples.shapes(tmp_path)
    folder = make_examples.HERE / "shapes"
    shipped = sorted(p.relative_to(folder) for p in folder.rglob("*.png"))
    drawn = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    assert drawn == shipped and len(drawn) == 3 * 60
    for name in drawn:  # the pixels, not the PNG bytes (another Pillow may compress them otherwise)
        assert np.array_equal(np.asarray(Image.open(tmp_path / name)), np.asarray(Image.open(folder / name))), name
