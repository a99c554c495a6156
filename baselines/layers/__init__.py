"""Layers shared by the generator files: model files import these, never each other's private helpers."""
