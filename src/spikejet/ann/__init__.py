"""The conventional network (MLP), its trainer and the one-file model bundle."""
