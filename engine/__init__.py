"""Customer Radar engine: data, models and AI for customer-success teams.

The engine never imports Streamlit; pages call it in-process.
"""

import os

# LightGBM's OpenMP threads wait for each other by spinning. Next to other work (the app
# serving, a second job) a spinning thread holds the core its partner needs: `train` on the
# demo book took 101 s instead of 12 s with one core busy. Waiting passively costs about 10%
# on an idle machine and kept that run at 18 s. Set before anything loads OpenMP; an
# OMP_WAIT_POLICY already in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
