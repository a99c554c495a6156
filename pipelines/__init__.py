"""Entry points of the DVC stages (``dvc.yaml``); each is a thin call into ``bench``."""
