import os

from hypothesis import HealthCheck, settings

# Gradient checks are slow per example and Numba compiles on first call, so
# wall-clock deadlines would only measure the machine's noise.
settings.register_profile(
    "default", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
