"""Seed-set definitions: the reference domain's named scales and its movement catalogue.

Installed as the package ``dbprobe.seeds`` (see pyproject.toml) so that
``importlib.resources`` finds these files from a wheel or an editable install.
"""
