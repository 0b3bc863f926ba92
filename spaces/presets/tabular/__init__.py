"""The ``tabular`` preset: modern tabular networks in Keras 3 (RealMLP, TabM, MLP-PLR parts), searched."""
