import CAttuneKernels
import Foundation

/// Stages 1 and 2 of ``PitchTracker``: decimation to the search rate and the voiced candidates of each frame (their
/// sub-harmonic checks on a narrow-band line are in `PitchSubharmonicChecks.swift`). The vector loops over whole
/// windows are in CAttuneKernels (AVX2 where the CPU has it): the decimator, the analysis window, the full-band
/// energy and the short-window correlation's sums.
extension PitchTracker {
    /// Brings the decimated ring up to the end of this frame's analysis window.
    @inline(__always)
    func decimate(index: Int, window: UnsafeBufferPointer<Float>) {
        let centreFull = index * hop
        let centre = centreFull / factor
        let first = centre - analysisHalf
        let last = first + analysisLength - 1
        let j = max(nextDecimated, first)
        let start = centreFull - windowLength / 2   // stream position of window[0]
        if j <= last {
            attune_decimate(UnsafePointer(fir.baseAddress!), firPadded, window.baseAddress! + (j * factor - firHalf - start), factor,
                            last - j + 1, ring.baseAddress!, ringMask, j)
        }
        nextDecimated = last + 1
    }

    /// Computes this frame's candidates into its path-search slot.
    @inline(__always)
    func findCandidates(index: Int, window: UnsafeBufferPointer<Float>) {
        let centre = index * hop / factor
        let first = centre - analysisHalf
        let n = analysisLength
        let x = fft.real
        let d = UnsafePointer(ring.baseAddress! + (first & ringMask))
        // Mean removal, Hann window, peak and energy in one pass.
        var mean: Float = 0, localPeak: Float = 0, lowEnergy: Float = 0
        attune_pitch_window(d, n, UnsafePointer(hann.baseAddress!), x.baseAddress!, &mean, &localPeak, &lowEnergy)
        (x.baseAddress! + n).update(repeating: 0, count: fft.size - n)
        framePeak[index & slotMask] = localPeak
        // The third lowest of the last `referenceFrames` window peaks: a level that six of them reach.
        // Three scalars, not a SIMD3: each insertion was a round of lane inserts and extracts.
        var lowest = Float.greatestFiniteMagnitude, second = lowest, third = lowest
        for j in max(0, index - Self.referenceFrames + 1)...index {
            let p = framePeak[j & slotMask]
            if p < third {
                if p < lowest { (lowest, second, third) = (p, lowest, second) }
                else if p < second { (second, third) = (p, second) }
                else { third = p }
            }
        }
        let sustained = index + 1 >= Self.referenceFrames ? third : 0
        runningPeak = max(runningPeak * peakDecay, min(localPeak, Self.referenceMargin * sustained))

        bandEnergy[index & slotMask] = lowEnergy

        let base = (index & slotMask) * stride
        var count = 1
        var best: Float = 0
        if localPeak > 0 && localPeak >= Self.searchGate * (lineSilenceThreshold / Self.silenceThreshold) * runningPeak {
            fft.forward()
            Self.powerSpectrum(fft.spectrum)
            if localPeak > Self.wideBandLevel * runningPeak { updateLowBandShare(fft.spectrum) }
            // After the update, so the line is judged as `collectPeaks` will judge it: only the narrow-band
            // sub-harmonic checks read the copy.
            if !isWideBandLine { keepPower(fft.spectrum, index: index) }
            fft.inverse()
            let r0 = x[0]
            if r0 > 0 {
                let inv = 1 / r0
                attune_scale_lags(UnsafePointer(x.baseAddress!), inv, windowACInverse.baseAddress!, rLength, r)
                for lag in 1...Self.sincDepth { r[-lag] = r[lag] }
                let share = bandShare(window: window, mean: mean, lowEnergy: lowEnergy)
                count = collectPeaks(index: index, share: share, best: &best)
            }
        }
        candFrequency[base] = 0
        candCorrelation[base] = 0
        candCount[index & slotMask] = UInt8(count)
        periodicity[index & slotMask] = min(1, max(0, best))
    }

    /// Share of the window's energy inside the search band (see `collectPeaks`): only frames that are searched
    /// need it, so only they pay for the full-rate pass.
    @inline(__always)
    func bandShare(window: UnsafeBufferPointer<Float>, mean: Float, lowEnergy: Float) -> Float {
        let fullStart = windowLength / 2 - analysisHalf * factor
        let fullCount = analysisLength * factor
        var fullEnergy: Float = 0
        attune_windowed_energy(window.baseAddress! + fullStart, UnsafePointer(hannFull.baseAddress!), mean, (fullCount + 7) & ~7, &fullEnergy)
        return fullEnergy > 0 ? min(1, (lowEnergy / hannPower) / (fullEnergy / hannFullPower)) : 0
    }

    /// Moves the running low-band share (see `wideBandShare`) towards this frame's, from its power spectrum.
    @inline(__always)
    func updateLowBandShare(_ power: UnsafeMutableBufferPointer<Float>) {
        // Three runs instead of a range test per bin; each sum still adds its bins in ascending order. A pointer
        // walking the bins, as index arithmetic with its checks took a third of each bin's instructions.
        var low: Float = 0, all: Float = 0
        var bin = UnsafePointer(power.baseAddress! + 2)
        let lowStart = bin + 2 * (lowBandFirst - 1), lowEnd = bin + 2 * lowBandLast, end = bin + 2 * (power.count / 2 - 1)
        while bin < lowStart { all += bin.pointee; bin += 2 }
        while bin < lowEnd {
            all += bin.pointee
            low += bin.pointee
            bin += 2
        }
        while bin < end { all += bin.pointee; bin += 2 }
        if all > 0 { lowBandShare += Self.wideBandAdapt * (low / all - lowBandShare) }
    }

    /// Finds the autocorrelation maxima of `r` in the pitch range; keeps the strongest. Returns the state count.
    @inline(__always)
    func collectPeaks(index: Int, share: Float, best: inout Float) -> Int {
        let base = (index & slotMask) * stride
        let centre = index * hop / factor
        // Scaling by the square root of the band's share of the energy: Praat's full-band r amounts to
        // scaling by the share itself (the energy above the band being aperiodic in noise and fricatives);
        // the root keeps most of the band's robustness to broadband noise while a fricative next to a
        // vowel still reads as weakly periodic.
        let lowWeight = share.squareRoot()
        bandWeight[(base / stride) & slotMask] = lowWeight
        var count = 1
        let threshold = 0.5 * Self.voicingThreshold
        let maxLagF = Float(maxLag)
        // Pass 1: every local maximum; when there are more than the slot holds, it keeps the best by a quick
        // parabolic strength. Pass 2 replaces the strengths, so they are computed only once the slot overflows
        // (most frames have fewer maxima), for the kept ones from their lags again: the same values.
        var ranked = false
        var maxima = 0
        attune_local_maxima(UnsafePointer(r), minLag, maxLag, threshold, peakLags.baseAddress!, &maxima)
        for m in 0..<maxima {
            let lag = peakLags[m]
            let (low, period) = parabolicPeak(lag: lag, weight: lowWeight)
            if count < stride {
                candFrequency[base + count] = Float(lag)
                candCorrelation[base + count] = low
                count += 1
            } else {
                if !ranked {
                    for i in 1..<stride {
                        let (kept, keptPeriod) = parabolicPeak(lag: Int(candFrequency[base + i]), weight: lowWeight)
                        candStrength[base + i] = Self.quickStrength(correlation: kept, period: keptPeriod, maxLag: maxLagF)
                    }
                    ranked = true
                }
                replaceWeakest(base: base, frequency: Float(lag), correlation: low,
                               strength: Self.quickStrength(correlation: low, period: period, maxLag: maxLagF))
            }
        }
        // Pass 2: the kept maxima get the sinc-refined peak and the full-band correction, then their final strength.
        let search = Float(Self.searchRate)
        let floor = Float(settings.pitchFloor)
        let ceiling = Float(settings.pitchCeiling) * 1.05
        var kept = 1
        // A long lag's r above 1 is read by its overlap for a low speaker (see `longLagShare`).
        let lowSpeaker = speakerFrames >= Self.speakerWarmUp && speakerOctave < lowSpeakerOctave
        for c in 1..<count {
            let (period, refined) = refinePeak(lag: Int(candFrequency[base + c]))
            let frequency = search / period
            if frequency < floor || frequency > ceiling { continue }
            let height = lowSpeaker && period > longLag && refined > 1 ? overlapCorrelation(first: centre - analysisHalf, period: period) : refined
            // Above 1 only from the window normalisation at long lags; fold it back like Praat.
            let correlation = (height > 1 ? 1 / height : height) * lowWeight
            best = max(best, correlation)
            let octave = log2(frequency)
            candFrequency[base + kept] = frequency
            candOctave[base + kept] = octave
            candCorrelation[base + kept] = correlation
            candStrength[base + kept] = correlation - Self.octaveCost * (floorOctave - octave)
                - Self.lagCost * (1 - correlation) * period / maxLagF
            kept += 1
        }
        let wideBand = isWideBandLine
        // This frame's frequencies by pointer: `base + d` with its overflow check was three of the inner loop's
        // eleven instructions.
        let frequencies = UnsafePointer(candFrequency.baseAddress! + base)
        for c in 1..<kept {
            var weight: Float = 1
            if wideBand {
                let half = 0.5 * frequencies[c]
                for d in 1..<kept where abs(frequencies[d] - half) < Self.subOctaveTolerance * half {
                    if candCorrelation[base + d] <= candCorrelation[base + c] { weight = 0 }
                    if lowWeight < Self.noisyBandWeight && candCorrelation[base + d] < candCorrelation[base + c] + Self.subOctaveMargin {
                        candStrength[base + d] = min(candStrength[base + d], candStrength[base + c] - Self.subOctaveStep)
                    }
                }
            }
            candAboveWeight[base + c] = weight
        }
        if !wideBand { demoteAboveSubharmonics(index: index, kept: kept, lowWeight: lowWeight) }
        // The octave and lag terms rank the voiced candidates among themselves; against the unvoiced state the
        // frame stands on its top-ranked candidate's periodicity: the mean of its r and of the correlation of
        // two short stretches one period apart at the frame's centre (`shortPeriodicity`). Otherwise a low
        // voice, whose period lies near the longest lag, pays up to `lagCost` · (1 − r) for being voiced at
        // all. The top candidate, not the frame's best r: in breathy or noisy frames that is often a multiple
        // of the period, whose chance peak would voice frames the ranking reads at the wrong octave.
        if kept > 1 {
            var top = 1
            for c in 2..<kept where candStrength[base + c] > candStrength[base + top] { top = c }
            let local = shortPeriodicity(centre: centre, period: Float(Self.searchRate) / candFrequency[base + top])
            let voicing = 0.5 * (candCorrelation[base + top] + local * lowWeight)
            let shift = voicing - candStrength[base + top]
            for c in 1..<kept { candStrength[base + c] += shift }
        }
        return kept
    }

    /// Correlation coefficient of two `shortLength`-sample stretches one period apart, centred on the frame
    /// (RAPT's NCCF over a short window), the best of the rounded period and its two neighbours (jitter).
    /// The 41.5 ms window of r straddles a voicing edge for four frames either side, reading the voiced
    /// side's periodicity into the silent one and diluting a weak onset; 16 ms around the centre see which
    /// side of the edge the frame is on.
    @inline(__always)
    func shortPeriodicity(centre: Int, period: Float) -> Float {
        bestCorrelation(period: period) { lag in (centre - (Self.shortLength + lag) / 2, Self.shortLength) }
    }

    /// The correlation coefficient of the analysis window's first `analysisLength − lag` samples (a multiple of 8)
    /// and the same number a period later, the best of the rounded period and its two neighbours: the height of a
    /// long lag whose r passes 1, for a low speaker (see `longLagShare`).
    @inline(__always)
    func overlapCorrelation(first: Int, period: Float) -> Float {
        bestCorrelation(period: period) { lag in (first, (analysisLength - lag) & ~7) }
    }

    /// The best, over the rounded `period` and its two neighbours (jitter), of the correlation coefficient of the
    /// `stretch(lag).count` decimated samples from `stretch(lag).start` and as many `lag` later. The count is a
    /// multiple of 8 (the vector loop's).
    @inline(__always)
    func bestCorrelation(period: Float, stretch: (Int) -> (start: Int, count: Int)) -> Float {
        let rounded = Int(period.rounded())
        var best: Float = 0
        for lag in max(1, rounded - 1)...(rounded + 1) {
            let (start, n) = stretch(lag)
            guard n > 0 else { continue }
            // Mirrored ring: `n + lag` samples from any position are contiguous, and the analysis window
            // (decimated up to `analysisHalf` past the centre) covers them.
            let a = UnsafePointer(ring.baseAddress! + (start & ringMask))
            var sums = SIMD8<Float>()
            withUnsafeMutableBytes(of: &sums) { attune_pair_sums(a, a + lag, n, $0.baseAddress!.assumingMemoryBound(to: Float.self)) }
            let sx = sums[0], sy = sums[1], sxy = sums[2], sxx = sums[3], syy = sums[4]
            let inverse = 1 / Float(n)
            let vx = sxx - sx * sx * inverse, vy = syy - sy * sy * inverse
            if vx > 0 && vy > 0 { best = max(best, (sxy - sx * sy * inverse) / (vx * vy).squareRoot()) }
        }
        return best
    }

    /// Position and height of the autocorrelation maximum near integer lag `lag`: a parabola through the
    /// three samples gives a first guess, then one parabolic step on sinc-interpolated values. At 4 kHz a
    /// 300 Hz voice peaks between samples, and the parabola alone underrates the peak enough to hand
    /// the win to the subharmonic (Boersma interpolates with a sinc for the same reason).
    @inline(__always)
    func refinePeak(lag: Int) -> (Float, Float) {
        let a = r[lag - 1], c = r[lag], b = r[lag + 1]
        let denominator = a - 2 * c + b
        var guess = Float(lag)
        if denominator < 0 { guess += min(0.5, max(-0.5, 0.5 * (a - b) / denominator)) }
        let step: Float = 0.25
        let left = sincInterpolate(at: guess - step)
        let middle = sincInterpolate(at: guess)
        let right = sincInterpolate(at: guess + step)
        let curvature = left - 2 * middle + right
        var position = guess
        var height = middle
        if curvature < 0 {
            let shift = min(1, max(-1, 0.5 * (left - right) / curvature))
            position = guess + shift * step
            height = middle - 0.25 * (left - right) * shift
        }
        if c > height { return (Float(lag), c) }
        return (position, height)
    }

    /// `r` at fractional lag `t`: a sinc over 8 samples each side, tapered by (1 − (d/9)²)², in vectors
    /// (`attune_sinc_interpolate`, AVX2 where the CPU has it).
    @inline(__always)
    func sincInterpolate(at t: Float) -> Float {
        var value: Float = 0
        attune_sinc_interpolate(UnsafePointer(r), t, &value)
        return value
    }

    /// Replaces an r2c spectrum by its power (imaginary parts zero), in place (`attune_power_spectrum`, AVX2 where
    /// the CPU has it).
    @inline(__always)
    static func powerSpectrum(_ s: UnsafeMutableBufferPointer<Float>) {
        attune_power_spectrum(s.baseAddress!, s.count)
    }

    /// Pass 1's view of the autocorrelation maximum at integer lag `lag`: the parabola's height through three lags,
    /// folded above 1 and scaled by the band weight, and its period.
    @inline(__always)
    func parabolicPeak(lag: Int, weight: Float) -> (Float, Float) {
        let a = r[lag - 1], c = r[lag], b = r[lag + 1]
        let shift = 0.5 * (a - b) / (a - 2 * c + b)
        let height = c - 0.25 * (a - b) * shift
        return ((height > 1 ? 1 / height : height) * weight, Float(lag) + shift)
    }

    /// Pass 1's ranking of a maximum. Octave term as a lag ratio: log2(floor / f) = log2(period / maxLag) up to
    /// a constant.
    @inline(__always)
    static func quickStrength(correlation low: Float, period: Float, maxLag: Float) -> Float {
        low + octaveCost * log2(maxLag / period) - lagCost * (1 - low) * period / maxLag
    }

    /// Puts a candidate in the place of the full slot's weakest, if it is stronger.
    @inline(__always)
    func replaceWeakest(base: Int, frequency: Float, correlation: Float, strength: Float) {
        var weakest = 1
        for i in 2..<stride where candStrength[base + i] < candStrength[base + weakest] { weakest = i }
        if candStrength[base + weakest] >= strength { return }
        candFrequency[base + weakest] = frequency
        candCorrelation[base + weakest] = correlation
        candStrength[base + weakest] = strength
    }
}
