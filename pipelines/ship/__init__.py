"""Shipping: the export of what ships and the checks that it will export, before the first trial."""
