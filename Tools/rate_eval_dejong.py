"""De Jong & Wempe (2009) syllable-nuclei baseline, re-implemented with parselmouth following the logic of their
published Praat script: intensity (pitch floor 50 Hz, mean subtracted), silence threshold 25 dB below the 99th
percentile, intensity peaks above it, a peak kept when the intensity dips by more than 2 dB before the next peak,
and only voiced peaks counted (Praat pitch, 30–450 Hz, the script's settings).
"""
import numpy as np
import parselmouth

SILENCE_DB = -25.0
MIN_DIP_DB = 2.0


def count_syllables(path):
    snd = parselmouth.Sound(path)
    if snd.n_channels > 1:
        snd = snd.extract_channel(1)
    intensity = snd.to_intensity(minimum_pitch=50.0, subtract_mean=True)
    values = intensity.values[0]
    times = intensity.xs()
    if len(values) < 3 or not np.isfinite(values).any():
        return 0
    finite = values[np.isfinite(values)]
    vmin, vmax = finite.min(), finite.max()
    max99 = np.quantile(finite, 0.99)
    threshold = max99 + SILENCE_DB
    if threshold < vmin:
        threshold = vmin
    # Local maxima of the intensity contour (the script's PointProcess of maxima).
    peaks = [i for i in range(1, len(values) - 1)
             if values[i] > values[i - 1] and values[i] >= values[i + 1] and values[i] > threshold]
    # A peak counts when the contour dips by more than MIN_DIP_DB before the next peak; as in the script,
    # the last peak has no following one and is not counted.
    valid = []
    for a, b in zip(peaks, peaks[1:]):
        dip = values[a:b + 1].min()
        if abs(values[a] - dip) > MIN_DIP_DB:
            valid.append(times[a])
    pitch = snd.to_pitch_ac(time_step=0.02, pitch_floor=30.0, max_number_of_candidates=4, very_accurate=False,
                            silence_threshold=0.03, voicing_threshold=0.25, octave_cost=0.01,
                            octave_jump_cost=0.35, voiced_unvoiced_cost=0.25, pitch_ceiling=450.0)
    return sum(1 for t in valid if np.isfinite(pitch.get_value_at_time(t)) and pitch.get_value_at_time(t) > 0)
