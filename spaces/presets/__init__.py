"""The built-in networks and their registry: mlp, cnn, transfer, and the raw-input layers they share."""
