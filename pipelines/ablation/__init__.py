"""``kerashpo ablate``: the champion retrained with one regularizer changed at a time."""
