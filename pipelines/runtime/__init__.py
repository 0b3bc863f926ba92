"""Where trials run: the Keras backend, compute settings, quiet libraries, stores and workers."""
