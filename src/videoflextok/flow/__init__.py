"""Rectified flow: noise schedule, Euler sampler and guidance (CFG, APG).

Convention (used everywhere in this package): flow time s in [0, 1], s = 0 is data and s = 1 is noise,
``x_s = s * eps + (1 - s) * x0`` and the velocity is ``v = dx_s/ds = eps - x0``.
"""

from videoflextok.flow.guidance import GUIDANCE_MODES, Guidance, cfg_combine, guided_velocity
from videoflextok.flow.sampler import euler_sample, sampling_times
from videoflextok.flow.schedule import add_noise, sample_times, shift_time, velocity_target

__all__ = [
    "GUIDANCE_MODES",
    "Guidance",
    "add_noise",
    "cfg_combine",
    "euler_sample",
    "guided_velocity",
    "sample_times",
    "sampling_times",
    "shift_time",
    "velocity_target",
]
