"""The search engines behind one interface: Optuna and Keras Tuner."""
