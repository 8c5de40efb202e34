import Foundation

/// Stage 2's sub-harmonic checks (see ``PitchTracker``): on a narrow-band line, where the autocorrelation cannot
/// tell a voice from its octave or its third, a candidate is ranked below its m-th subharmonic f when the kept power
/// spectrum shows peaks at f's harmonics that are not multiples of m, which a voice at m · f does not have. The
/// candidate search (`PitchCandidates.swift`) keeps each narrow-band frame's spectrum (`keepPower`) and calls
/// `demoteAboveSubharmonics` once its candidates are ranked.
extension PitchTracker {
    /// On a narrow-band line, a candidate is ranked `oddHarmonicStep` below its sub-octave f when the odd
    /// harmonics of f (3f, 5f, … within `oddHarmonicBand`) rise on average more than `oddHarmonicContrast` dB
    /// above the higher of the spectrum's two levels half a harmonic either side, in a frame where both
    /// candidates correlate at least `oddHarmonicCorrelation` within the search band. A voice at 2f has no energy
    /// at odd multiples of f, so peaks there say the voice is at f. Behind a telephone's high-pass the
    /// autocorrelation cannot tell: a voice whose even harmonics dominate (a formant on one, odd ones 10 dB down)
    /// correlates better at half its period, because r weighs harmonics by their energy, while the odd ones
    /// still stand out of the spectrum in decibels. Only the octave above is demoted: a voice with weak odd
    /// harmonics may show no peaks at all, so their absence says nothing.
    /// - At least `oddHarmonicMinCount` odd harmonics must lie in the band (f up to 200 Hz): with three (f up to
    ///   257 Hz) the mean is at the mercy of the noise between a high voice's harmonics, and synthetic telephone
    ///   GPE with pink noise rose on three seeds (real speech gained 0.1 more). Those have a stricter test of their
    ///   own, `fewOddHarmonicsContrast`.
    /// - The odd peaks must hold on average no less than `oddHarmonicFloor` dB below their even neighbours: a
    ///   window that catches an abrupt onset spreads a flat floor 25–30 dB under the harmonics, in which chance
    ///   ripples read as odd peaks (the raised-voice test in PitchTrackerTests went an octave down on one such
    ///   frame). On the tune sets this changed no decision.
    /// - Once the speaker's band is learnt (`speakerWarmUp`), a sub-octave below it is not promoted: a raised
    ///   voice may carry a weak subharmonic series (espeak-ng's female voice in `Samples/call-8k-mulaw.wav`, at
    ///   300 Hz, has one 20 dB under its harmonics) and is heard, and read by Praat, at its own pitch; without
    ///   this a turn of that sample lost 7 Hz of median to frames read an octave down. It gives up 0.06 of the
    ///   gain on the real tune set.
    ///
    /// Chosen on every EmoDB file of the tune speakers (`Tools/pitch_eval_real.py --split tune --every-file`)
    /// and synthetic seeds 1–9 of `Tools/pitch_eval.py`: telephone GPE 2.14 → 1.79 % against the 3-way
    /// reference (octave-up frames 232 → 150, octave-down unchanged; male 3.28 → 2.99, RAPT 3.46; female
    /// 1.70 → 1.30), 2.38 → 2.03 against Praat+RAPT, telephone + pink noise 3.35 → 3.09, VDE within ±0.01;
    /// synthetic telephone GPE lower on five seeds and equal on four (mean 4.76 → 4.43 %), with pink noise lower
    /// on two, higher on one (4.52 → 4.48). Wide-band lines are untouched. Demoting by 0.2 gained nothing more,
    /// by 0.3 it made octave-down errors; comparing with the mean of the two sides instead of the higher one, at
    /// 4 dB, gained as much on real telephone speech and less on the synthetic seeds.
    static let oddHarmonicContrast: Float = 1
    static let oddHarmonicFloor: Float = 20
    static let oddHarmonicCorrelation: Float = 0.85
    static let oddHarmonicStep: Float = 0.1
    static let oddHarmonicBand: ClosedRange<Float> = 300...1800
    static let oddHarmonicMinCount = 4
    /// The octave check of a sub-octave f above 200 Hz, which has one odd harmonic too few in `oddHarmonicBand`
    /// (3f, 5f and 7f; a voice at 200–257 Hz read an octave up): the three must rise more than this (dB) in this
    /// frame and in the one before, each, under the same gates (`fewOddHarmonicsStandOut`). Most of the octave-up
    /// errors left on real female telephone speech were such voices, which the check above could not test: a dump
    /// of every such pair on the tune set found their odd harmonics standing out in two frames at 3 dB in 26 of 67
    /// erroneous frames, against 1 of 417 frames whose voice really was at 2f (synthetic: 6 of 4,486; in pink noise
    /// 18 of 4,271 and 2 of 403 real). The mean over the two frames instead of each (the third-harmonic check's
    /// test) let one chance peak in the frame before an onset pass: a breathy 400 Hz voice on clean 16 kHz audio,
    /// judged narrow band because it has nothing below 190 Hz, went an octave down for a whole run (synthetic seed
    /// 8). 4 dB rather than 3 for the margin against chance peaks in noise (4 of 4,271 synthetic pairs pass), at no
    /// cost on the tune set. Without the correlation gate 0.04 more came off telephone GPE, but synthetic telephone
    /// audio with pink noise rose 4.48 → 4.56.
    ///
    /// Chosen on every EmoDB file of the tune speakers (`Tools/pitch_eval_real.py --split tune --every-file`) and
    /// synthetic seeds 1–9: telephone GPE 1.59 → 1.47 % against the 3-way reference (octave-up frames 150 → 125;
    /// male 2.36 → 2.18, female 1.30 → 1.19), 1.82 → 1.70 against Praat+RAPT, VDE −0.01; clean, white noise and
    /// telephone + pink noise unchanged, and every synthetic file of seeds 1–9 in all four conditions. Through
    /// AMR-NB (the mobile codec, `--conditions amr,amrlow`) real speech gains as well (4.75 kbit/s: 3.43 → 3.25, no
    /// file worse), but a synthetic voice held above 400 Hz goes an octave down at 4.75 kbit/s (high group of seeds
    /// 1–9: 0 → 9.8 %): below 12.2 kbit/s the codec's pitch lag cannot be shorter than 20 samples, so it codes such
    /// a voice at twice its period, and the decoded audio really has the sub-harmonics this test looks for. Without
    /// the test the path kept those runs at their octave from their first frames. Requiring the candidate to
    /// correlate nearly as well as its sub-octave did not tell the two apart, and testing only once the speaker's
    /// band is learnt lost most of the gain on real speech (telephone 1.59 → 1.55, tried with the two-frame mean at
    /// 1 dB), whose errors are in the first runs.
    static let fewOddHarmonicsContrast: Float = 4
    /// On a narrow-band line, a candidate is ranked `oddHarmonicStep` below its third f when the harmonics of f
    /// that are not multiples of three (2f, 4f, 5f, 7f, … within `oddHarmonicBand`, at least
    /// `oddHarmonicMinCount` of them) rise on average more than `thirdHarmonicContrast` dB above the higher of the
    /// spectrum's two levels half a harmonic either side, over this frame and the one before
    /// (`thirdHarmonicFrames`), and hold no less than `oddHarmonicFloor` dB below the nearest multiples of three.
    /// The octave check's reasoning one step on: a voice at 3f has no energy between its harmonics, so peaks at
    /// f's other multiples say the voice is at f. Behind a telephone's high-pass a low male voice whose
    /// formants sit on multiples of its third harmonic correlates better at a third of its period, and with no
    /// speaker learnt yet (a call's first runs) nothing else pulls it down: most of the male tune speakers'
    /// remaining telephone errors were runs read at three and more times their F0.
    /// - No correlation gate and no speaker-band gate, unlike the octave check: the errors are in the first runs
    ///   and in frames whose r is middling (0.8 of the band weight), and a speaker band learnt from runs read at
    ///   3f would block the correction of later ones (with the band gate the real tune set gained 0.06 less on
    ///   telephone audio and 0.10 less with pink noise).
    /// - Two frames, not one: in pink noise at 10 dB, chance peaks between a high voice's harmonics passed the
    ///   test on single frames, and the demotion handed runs of synthetic 450 Hz voices to their sub-octave
    ///   (seed 2 high group, telephone + pink GPE 0.75 → 6.2 %). Averaged with the frame before, frames of
    ///   voices truly at 3f passed about half as often (real tune set: 22 → 15 of 17,518 telephone frames,
    ///   93 → 52 of 13,861 with pink noise), while the erroneous frames passed as before on telephone audio (59 →
    ///   60 of 88). Three frames lost much of the gain on real noisy speech (2.83 → 3.05), and pooling the octave
    ///   check the same way made it worse (telephone + pink 3.09 → 3.17).
    /// - Cost: about one pair per voiced frame is tested (a voice's candidate and its third subharmonic), over
    ///   two spectra: +5 % of the instructions of `attune analyze` on the bundled 8 kHz call (callgrind) and
    ///   about a tenth of its time at 8 kHz; wide-band lines do not run it.
    ///
    /// Chosen on every EmoDB file of the tune speakers (`Tools/pitch_eval_real.py --split tune --every-file`)
    /// and synthetic seeds 1–9 of `Tools/pitch_eval.py`: telephone GPE 1.79 → 1.59 % against the 3-way
    /// reference (male 2.99 → 2.36, RAPT 3.46; male errors at three times F0 and more 146 → 90 frames), with pink
    /// noise 3.09 → 2.83 (male 5.30 → 4.51, RAPT 5.02), Praat+RAPT reference 2.03 → 1.82 and 3.27 → 3.00;
    /// VDE within 0.02; female telephone unchanged. Synthetic telephone GPE mean 4.43 → 4.30, telephone + pink 4.48 →
    /// 4.48 (lower on four seeds, higher on two), VDE +0.03. A contrast of 1.5 dB gained less on both (real
    /// 1.66 and 2.96). Demoting the candidate at 1.5f too, which then often won (x3/2 errors 11 → 21),
    /// helped clean telephone audio but cost more in noise (2.83 → 3.07).
    static let thirdHarmonicContrast: Float = 1
    static let thirdHarmonicFrames = 2

    /// Copies the power bins (the even slots of `power`, see `powerSpectrum`) into frame `index`'s slot of
    /// `framePower` before the inverse FFT overwrites them.
    @inline(__always)
    func keepPower(_ power: UnsafeMutableBufferPointer<Float>, index: Int) {
        let kept = framePower.baseAddress! + (index & 1) * powerBins
        for k in 0..<powerBins { kept[k] = power[2 * k] }
        powerFrame[index & 1] = index
    }

    /// The sub-harmonic checks of a narrow-band line (see `thirdHarmonicContrast` and `oddHarmonicContrast`). The
    /// check by thirds runs first, so the octave check sees its result; only the octave check has gates.
    @inline(__always)
    func demoteAboveSubharmonics(index: Int, kept: Int, lowWeight: Float) {
        demoteAbove(subharmonic: 3, index: index, kept: kept, minimum: -Float.infinity, lowest: -Float.infinity,
                    contrast: Self.thirdHarmonicContrast, frames: Self.thirdHarmonicFrames)
        let lowest = speakerFrames >= Self.speakerWarmUp ? speakerOctave - Self.speakerTolerance : -Float.infinity
        demoteAbove(subharmonic: 2, index: index, kept: kept, minimum: Self.oddHarmonicCorrelation * lowWeight,
                    lowest: lowest, contrast: Self.oddHarmonicContrast, frames: 1)
    }

    /// Ranks each candidate `oddHarmonicStep` below its m-th subharmonic d (within `subOctaveTolerance`) when d's
    /// harmonics that are not multiples of m stand out (`harmonicsStandOut`, and for the octave check also
    /// `fewOddHarmonicsStandOut`), both candidates correlating at least `minimum` and d's octave not below `lowest`.
    /// A pair whose ranking the demotion would not change (the candidate already a step below d) is not tested, nor
    /// a candidate whose subharmonic lies below the floor, where no candidate is: most of a frame's candidates are a
    /// voice's subharmonic series.
    @inline(__always)
    func demoteAbove(subharmonic m: Int, index: Int, kept: Int, minimum: Float, lowest: Float, contrast: Float,
                     frames: Int) {
        let base = (index & slotMask) * stride
        let lowestSub = Float(settings.pitchFloor) / (1 + Self.subOctaveTolerance)
        for c in 1..<kept where candCorrelation[base + c] >= minimum {
            let sub = candFrequency[base + c] / Float(m)
            if sub <= lowestSub { continue }
            for d in 1..<kept where abs(candFrequency[base + d] - sub) < Self.subOctaveTolerance * sub
                && candCorrelation[base + d] >= minimum && candOctave[base + d] >= lowest
                && candStrength[base + c] > candStrength[base + d] - Self.oddHarmonicStep
                && (m == 2 && Self.hasFewOddHarmonics(candFrequency[base + d])
                    ? fewOddHarmonicsStandOut(candFrequency[base + d], index: index)
                    : harmonicsStandOut(candFrequency[base + d], skipping: m, contrast: contrast, frames: frames,
                                        index: index)) {
                candStrength[base + c] = min(candStrength[base + c], candStrength[base + d] - Self.oddHarmonicStep)
            }
        }
    }

    /// Whether the harmonics of `f` in `oddHarmonicBand` that are not multiples of `m` (at least
    /// `oddHarmonicMinCount` of them) rise on average more than `contrast` dB above the higher of the spectrum's
    /// two levels half a harmonic either side, and hold on average no less than `oddHarmonicFloor` dB below the
    /// nearest multiples of `m` either side (the harmonics a voice at m · f would have). Averaged over frame
    /// `index` and up to `frames − 1` frames before it whose spectra were kept: a voice at m · f has only noise
    /// at those places, and pooling frames narrows the spread of chance peaks in it.
    @inline(__always)
    func harmonicsStandOut(_ f: Float, skipping m: Int, contrast: Float, frames: Int, index: Int) -> Bool {
        var rise = 0.0, level = 0.0
        var used = 0
        for frame in Swift.stride(from: index, to: max(-1, index - frames), by: -1) where powerFrame[frame & 1] == frame {
            let (frameRise, frameLevel, count) = harmonicContrast(f, skipping: m, frame: frame)
            if count < Self.oddHarmonicMinCount { return false }
            rise += frameRise
            level += frameLevel
            used += 1
        }
        return used > 0 && rise > Double(used) * Double(contrast) && level >= -Double(used) * Double(Self.oddHarmonicFloor)
    }

    /// Whether a sub-octave `f` has fewer than `oddHarmonicMinCount` odd harmonics in `oddHarmonicBand`, so that
    /// `harmonicsStandOut` could only say no: its ninth harmonic lies above the band (f above 200 Hz), and below
    /// 300 Hz the fundamental itself is out of it, which leaves at most 3f, 5f and 7f. The same product as the
    /// harmonic loop's bound, so the two agree to the last bit.
    @inline(__always)
    static func hasFewOddHarmonics(_ f: Float) -> Bool {
        Float(2 * oddHarmonicMinCount + 1) * f > oddHarmonicBand.upperBound
    }

    /// The octave check's test for a sub-octave `f` with one odd harmonic too few in `oddHarmonicBand` for
    /// `harmonicsStandOut` (`hasFewOddHarmonics`, see `fewOddHarmonicsContrast`): the three rise more than
    /// `fewOddHarmonicsContrast` dB in frame `index` and in the frame before, each, and hold on average no less than
    /// `oddHarmonicFloor` dB below their even neighbours. False when either spectrum was not kept, or when fewer
    /// than three lie in the band (f above 257 Hz).
    @inline(__always)
    func fewOddHarmonicsStandOut(_ f: Float, index: Int) -> Bool {
        guard index >= 1 else { return false }
        var level = 0.0
        for frame in Swift.stride(from: index, through: index - 1, by: -1) {
            guard powerFrame[frame & 1] == frame else { return false }
            let (rise, frameLevel, count) = harmonicContrast(f, skipping: 2, frame: frame)
            guard count == Self.oddHarmonicMinCount - 1, rise > Double(Self.fewOddHarmonicsContrast) else { return false }
            level += frameLevel
        }
        return level >= -2 * Double(Self.oddHarmonicFloor)
    }

    /// In the kept spectrum of `frame`: the mean rise (dB) of the harmonics of `f` in `oddHarmonicBand` that are not
    /// multiples of `m` above the higher of the spectrum's two levels half a harmonic either side, their mean level
    /// (dB) against the nearest multiples of `m` either side, and how many there are.
    @inline(__always)
    func harmonicContrast(_ f: Float, skipping m: Int, frame: Int) -> (rise: Double, level: Double, count: Int) {
        let power = UnsafePointer(framePower.baseAddress! + (frame & 1) * powerBins)
        // Products of the ratios, folded into their logarithms every 16 harmonics (each ratio within 10^±12, so
        // a product stays finite): two logarithms per frame for most pairs instead of two per harmonic.
        var riseProduct = 1.0, levelProduct = 1.0
        var frameRise = 0.0, frameLevel = 0.0
        var count = 0
        // Neighbouring harmonics share a side or a multiple of m: each level is read once (`upper` and
        // `lastMultiple` carry the upper ones on).
        var upperAt: Float = -1, upper = 0.0
        var lastMultiple = -1, multipleBelow = 0.0, multipleAbove = 0.0
        var k = max(1, Int(Self.oddHarmonicBand.lowerBound / f) - 1)
        while Float(k) * f <= Self.oddHarmonicBand.upperBound {
            let kf = Float(k)
            if k % m != 0 && kf * f >= Self.oddHarmonicBand.lowerBound {
                let peak = spectrumPower(power, at: kf * f)
                let lower = kf - 0.5 == upperAt ? upper : spectrumPower(power, at: (kf - 0.5) * f)
                (upperAt, upper) = (kf + 0.5, spectrumPower(power, at: (kf + 0.5) * f))
                let side = max(lower, upper)
                let below = k - k % m
                if below != lastMultiple {
                    multipleBelow = below == lastMultiple + m && lastMultiple >= 0 ? multipleAbove : spectrumPower(power, at: Float(below) * f)
                    multipleAbove = spectrumPower(power, at: Float(below + m) * f)
                    lastMultiple = below
                }
                let neighbours = multipleBelow * multipleAbove
                riseProduct *= min(1e12, max(1e-12, peak / side))
                levelProduct *= min(1e12, max(1e-12, peak * peak / neighbours))
                count += 1
                if count & 15 == 0 {
                    frameRise += log10(riseProduct)
                    frameLevel += log10(levelProduct)
                    (riseProduct, levelProduct) = (1, 1)
                }
            }
            k += 1
        }
        guard count > 0 else { return (0, 0, 0) }
        return (10 * (frameRise + log10(riseProduct)) / Double(count), 5 * (frameLevel + log10(levelProduct)) / Double(count), count)
    }

    /// The power of spectrum `power` (see `keepPower`) at `hz`, interpolated between bins, plus a floor that keeps
    /// silent bins' ratios finite.
    @inline(__always)
    func spectrumPower(_ power: UnsafePointer<Float>, at hz: Float) -> Double {
        let b = hz / binHz
        let i = min(Int(b), powerBins - 2)
        let a = b - Float(i)
        return Double((1 - a) * power[i] + a * power[i + 1] + 1e-20)
    }
}
