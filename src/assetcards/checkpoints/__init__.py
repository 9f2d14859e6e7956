"""Checkpoints: downloading and caching them, and loading models from them."""
