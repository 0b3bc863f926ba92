"""Writes the example datasets shipped beside the example configs (fixed seed: the same files every time).

    python pipelines/examples/make_examples.py

- ``churn.csv``: a churn-like customer table for binary classification, with text categories and missing values.
- ``houses.csv``: house prices for regression, with a text category and missing values.
- ``shapes/``: 16x16 colour images of circles, squares and triangles, one folder per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def churn(rows: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], rows, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["fiber", "dsl", "none"], rows, p=[0.45, 0.35, 0.2])
    payment = rng.choice(["card", "bank transfer", "electronic check", "mailed check"], rows)
    tenure = rng.integers(0, 73, rows)
    charges = np.round(rng.uniform(20, 120, rows) + np.where(internet == "fiber", 15, 0), 2)
    calls = rng.poisson(1.5, rows)
    senior = rng.random(rows) < 0.16
    logit = (-1.0 + 1.6 * (contract == "month-to-month") - 0.9 * (contract == "two-year")
             + 0.8 * (internet == "fiber") + 0.7 * (payment == "electronic check") - 0.04 * tenure
             + 0.015 * (charges - 70) + 0.35 * calls + 0.4 * senior)
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(rows)],
        "tenure_months": tenure,
        "monthly_charges": charges,
        "contract": contract,
        "internet": internet,
        "payment_method": payment,
        "senior": senior,
        "support_calls": calls,
        "churned": np.where(churned, "yes", "no"),
    })
    frame.loc[rng.random(rows) < 0.05, "monthly_charges"] = np.nan
    frame.loc[rng.random(rows) < 0.04, "payment_method"] = np.nan
    return frame


def houses(rows: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    neighbourhood = rng.choice(["centre", "riverside", "suburbs", "old town", "industrial"], rows)
    area = np.round(rng.uniform(35, 220, rows), 1)
    rooms = np.clip(np.round(area / 28 + rng.normal(0, 0.8, rows)), 1, None).astype(int)
    age = rng.integers(0, 120, rows).astype(float)
    garden = rng.random(rows) < 0.4
    premium = pd.Series(neighbourhood).map({"centre": 1.5, "riverside": 1.3, "old town": 1.2, "suburbs": 1.0,
                                            "industrial": 0.75}).to_numpy()
    price = (area * 2_400 * premium + rooms * 9_000 - age * 450 + garden * 18_000
             + rng.normal(0, 20_000, rows))
    frame = pd.DataFrame({"area_sqm": area, "rooms": rooms, "age_years": age, "neighbourhood": neighbourhood,
                          "garden": garden, "price": np.round(price, -2)})
    frame.loc[rng.random(rows) < 0.06, "age_years"] = np.nan
    return frame


def shapes(directory: Path, per_class: int = 60, size: int = 16, seed: int = 2) -> None:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for shape in ("circle", "square", "triangle"):
        (directory / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            background = tuple(int(v) for v in rng.integers(0, 90, 3))
            colour = tuple(int(v) for v in rng.integers(140, 256, 3))
            image = Image.new("RGB", (size, size), background)
            draw = ImageDraw.Draw(image)
            half = int(rng.integers(4, 7))
            cx, cy = (int(v) for v in rng.integers(half + 1, size - half - 1, 2))
            box = (cx - half, cy - half, cx + half, cy + half)
            if shape == "circle":
                draw.ellipse(box, fill=colour)
            elif shape == "square":
                draw.rectangle(box, fill=colour)
            else:
                draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=colour)
            image.save(directory / shape / f"{shape}_{i:03d}.png")


if __name__ == "__main__":
    churn().to_csv(HERE / "churn.csv", index=False)
    houses().to_csv(HERE / "houses.csv", index=False)
    shapes(HERE / "shapes")
    print(f"wrote churn.csv, houses.csv and shapes/ under {HERE}")
