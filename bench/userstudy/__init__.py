"""The user study of Tang et al. 2021 (Table 2), after Ma et al. 2017, Siarohin et al. 2018, Zhu et al. 2019.

* Realness: per method, ``real`` real and ``generated`` generated test images shuffled, the
  first ``warmup`` not scored, each shown for ``show_ms`` and then hidden; answer real / fake.
  G2R = generated rated real / generated shown; R2G = real rated real / real shown.
* Preference: ``groups`` groups per dataset of source image, target-pose skeleton and every
  compared method's result in random order; pick the most reasonable one. Prefer = share picked.

Modules: :mod:`config` (typed study config, its hash), :mod:`pool` (the images a study draws
from), :mod:`plan` (each participant's deterministic trials), :mod:`store` (SQLite, one row per
answer), :mod:`app` (the Flask app), :mod:`stats` (Wilson, bootstrap over participants),
:mod:`report` (Table 2 beside the published numbers), :mod:`pilot` (scripted participants).
"""
