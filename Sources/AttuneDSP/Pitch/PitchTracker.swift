import Foundation

/// Pitch tracker for telephone and wide-band speech: Boersma's autocorrelation candidates and a
/// Viterbi path search with a bounded look-ahead, so it runs live with a fixed delay.
///
/// Stages, per 10 ms frame:
/// 1. **Decimation.** The signal is low-passed (Hamming-windowed sinc, 1.95 kHz cut-off, down by 2.2 kHz so
///    nothing folds back onto the band as a non-harmonic) and decimated to 4 kHz — by 2 from 8 kHz, by 4
///    from 16 kHz. Only the newest hop is filtered each frame; earlier output stays in a ring. Harmonics
///    up to 1.8 kHz fix the period even when the telephone band has removed the fundamental, and the short
///    FFT keeps the stage within its budget.
/// 2. **Voiced candidates** (Boersma 1993, Praat's `Sound_to_Pitch` AC method). A Hann window around the
///    frame centre — three periods of the floor, capped at 41.5 ms so a 256-point FFT reaches the floor's
///    lag — has its mean removed. Its autocorrelation is divided by r(0) and by the window's own normalised
///    autocorrelation, which undoes the taper's decay with lag. Local maxima between the ceiling's and the
///    floor's period above half the voicing threshold are ranked by a parabola through three lags; the
///    best eight are refined on a sinc interpolation of r (a 300 Hz voice peaks between 4 kHz samples,
///    and the parabola underrates such peaks against their multiples). r is scaled by √s, s being the
///    band's share of the frame's full-band energy: Praat's full-band r amounts to scaling by s (energy
///    above the band is aperiodic in hiss and fricatives); the root keeps most of the band's robustness
///    to broadband noise while a fricative next to a vowel still reads as weakly periodic.
///    Strength = r − `octaveCost` · log2(floor / f) − `lagCost` · (1 − r) · lag / maxLag: no standing
///    preference between octaves (see `octaveCost`), but one for shorter lags when r is unsure. Those two
///    terms only rank the voiced candidates among themselves: all of a frame's voiced strengths are then
///    shifted together until the top one equals the frame's periodicity, the mean of the top candidate's r
///    and of the correlation between two 16 ms stretches one period apart at the frame's centre (RAPT's
///    short-window NCCF, which tells on which side of a voicing edge the frame lies). So a low voice (long
///    lags) is not pushed towards unvoiced by the lag term, and a window straddling an edge is judged by
///    its centre. On a narrow-band line a candidate whose sub-octave's odd harmonics stand out of the frame's
///    power spectrum (kept from the FFT pair) is ranked below that sub-octave (see `oddHarmonicContrast`, and for
///    a sub-octave above 200 Hz `fewOddHarmonicsContrast`), and one whose third's other harmonics stand out, over two
///    frames, below that third (see `thirdHarmonicContrast`).
///    A frame whose window peak is 46 dB or more below the level reference (stage 3) is not
///    searched: the path could not voice it (see `searchGate`).
/// 3. **Unvoiced candidate** (Praat's formula). Strength = the voicing threshold, raised towards 2 as the
///    window's peak falls below `silenceThreshold` of the channel's level reference (on a narrow-band line
///    `narrowBandSilenceThreshold`, and the search gate of stage 2 with it). Live there is no
///    whole-file peak: the reference is the running window peak, held with a 10 s half-life, but a peak
///    counts only up to 10 dB above a level that six of the last eight frames reach — a click or a knock
///    shorter than ~18 ms cannot lift it further (see `referenceMargin`). The path search trails the analysis by `peakLead` frames, so the
///    reference has already heard the loud syllable that follows a quiet onset.
/// 4. **Path search** (Viterbi). Transitions cost `octaveJumpCost` · |log2(f1 / f2)| between voiced
///    candidates; between voiced and unvoiced they follow the band energy E of the frame's window (RAPT's
///    amplitude ratio, see `transitionContrast`): on q = (E(k + 2) / E(k − 2))^`transitionContrast`, entering
///    voicing costs 2 · `voicedUnvoicedCost` / (1 + q), leaving it the rest of 2 · `voicedUnvoicedCost`, so
///    voicing switches on cheaply where the band grows, off where it fades. Entering voicing also costs
///    `speakerCost` · (1 − r) per octave that the candidate lies beyond `speakerTolerance` from the
///    speaker's running mean F0 (see `speakerCost`; not learnt from runs that hold a steady tone, see
///    `toneFrames`), and a voiced step pays it again for each octave it climbs further above that band
///    (the climb cost); above the band on a narrow-band line the doubt 1 − r is at least `narrowBandDoubt`.
///    Both are waived above the mean on a wide-band line when the
///    candidate's sub-octave correlates no better (see `wideBandShare`); in broadband noise on such a line a
///    sub-octave must correlate clearly better to outrank its octave (see `subOctaveMargin`). Scores
///    accumulate frame by frame;
///    frame `k − latency` is decided by tracing back from the best state of the newest frame, so every
///    frame is decided exactly once, in order, `latency` frames after it was analysed (`latency − peakLead`
///    frames of path look-ahead). ``finish(decided:)`` traces back from the last frame. Everything
///    depends on the sample stream alone, not on how it was cut into blocks. Reported F0 is clamped to
///    [floor, ceiling] (candidates reach 5 % past the ceiling so a voice at the ceiling keeps its peak).
/// 5. **Onsets** (hysteresis). Up to `onsetReach` unvoiced frames just before a voiced run on the path join it
///    when they hold a candidate within `onsetTolerance` of the run's F0 whose strength falls short of the
///    unvoiced strength by at most `onsetMargin` (on a narrow-band line `narrowBandOnsetMargin`).
///
/// Voicing reported per frame is the frame's best periodicity r (0…1), whether or not the path chose
/// to voice it, so later stages can use it as a soft cue. It is not a correlation coefficient: the best of all
/// candidates rather than the chosen one, of the 0–2 kHz band, scaled by the root of that band's energy share;
/// 0 for a frame too quiet to be searched.
///
/// The harmonics-to-noise ratio reported with each voiced frame is Boersma's (1993), 10 · log10(r / (1 − r)),
/// from the chosen candidate's own r: the band's normalised, window-corrected autocorrelation at the path's
/// period, sinc-refined and folded like Praat's, without the energy-share scaling (a heuristic for ranking, not
/// part of r). So it measures the 0–2 kHz band — what an 8 kHz line and a wide-band one both carry, and where
/// voiced speech has most of its harmonic energy — and white noise of a given full-band SNR reads higher by
/// the share of the noise the band leaves out (10 · log10(4000 / 1950) ≈ 3 dB at 8 kHz, 6 dB at 16 kHz). Unvoiced frames have
/// none: r at a period the path did not choose says nothing about a voice.
///
/// Stages 1 and 2 are in `PitchCandidates.swift` (their vector loops in CAttuneKernels), stage 2's sub-harmonic
/// checks and their constants in `PitchSubharmonicChecks.swift`, 3 to 5 in `PitchPath.swift`.
///
/// All buffers are allocated in `init`; ``analyze(index:window:decided:)`` and ``finish(decided:)`` never
/// touch the heap.
public final class PitchTracker {
    public let settings: AnalysisSettings
    /// Samples of the window ``analyze(index:window:decided:)`` wants, centred on the frame (odd).
    public let windowLength: Int
    /// Frames between analysing a frame and deciding it (the path search's look-ahead).
    public let latency: Int

    // Tuning, named after Praat's parameters (same meaning, same scale).
    /// Range of the reported harmonics-to-noise ratio, dB. The top keeps a strictly periodic signal (r → 1)
    /// finite and far above any voice (healthy sustained vowels read about 20 dB in Praat, running speech
    /// less); the bottom is never reached by a voiced frame (r < 0.09, while candidates need r above half
    /// the voicing threshold), so it only guards the logarithm.
    public static let hnrRange: ClosedRange<Float> = -10...40
    /// Below this periodicity a frame leans unvoiced. Below Praat's 0.45: the periodicity here is the search
    /// band's, scaled by the root of its energy share and averaged with a 16 ms correlation (see
    /// `collectPeaks`), and weak voiced frames at real onsets sit at 0.4–0.55 (see `transitionContrast`).
    public static let voicingThreshold: Float = 0.45
    /// Fraction of the running peak below which a frame counts as silence.
    public static let silenceThreshold: Float = 0.03
    /// `silenceThreshold` on a narrow-band line (see `wideBandShare`). Behind a telephone's 300 Hz high-pass a
    /// voice has lost its fundamental and lowest harmonics, the most periodic part of a weak voiced frame, so
    /// such a frame stands on a lower periodicity than the same frame heard wide band, and the raise of the
    /// unvoiced strength towards silence tipped it unvoiced: the misses on telephone copies of real speech sit
    /// about 7 dB further below the level reference than the voiced frames found. Chosen on every EmoDB file of
    /// the tune speakers (`Tools/pitch_eval_real.py --split tune --every-file`, 257 files, ten times the fixed
    /// subset): telephone VDE 3.81 → 3.59 % against the 3-way reference (misses 3.23 → 2.90, false voicing
    /// 0.59 → 0.69), 4.71 → 4.60 % against Praat+RAPT; 0.015 and 0.01 added more false voicing than they
    /// removed misses. Synthetic telephone VDE, seeds 1 and 2 of `Tools/pitch_eval.py`, 5.43 → 5.23 and
    /// 5.71 → 5.53 %.
    public static let narrowBandSilenceThreshold: Float = 0.02
    /// Fraction of the running peak (−46 dB) below which a frame is not searched for voiced candidates: its
    /// unvoiced strength (stage 3) is then at least 2.45 − 0.005 / (0.03 / 1.45) ≈ 2.2 (2.19 after the 1 % the
    /// reference may decay before the frame is decided), against about 1 at most for a voiced candidate, a
    /// margin larger than entering and leaving voicing cost together (1.2 at most). So the path leaves such a
    /// frame unvoiced anyway — short of a voiced run that would have to re-enter far from the speaker's mean
    /// F0 (`speakerCost`) — and the FFT pair, peak search and refinement, two thirds of this stage, are
    /// skipped. Pauses are much of each side of a call, and a pause 46 dB below the caller's peaks is line
    /// noise. The frame's reported voicing is 0 instead of the noise's periodicity. On the evaluation sets
    /// (`Tools/pitch_eval.py`, `Tools/pitch_eval_real.py`) every F0 and voicing decision is the same as
    /// without the gate; the syllable model, which reads the periodicity of pauses beside speech, moves by
    /// under half a point per group (`Tools/rate_eval.py`).
    /// On a narrow-band line the gate falls with the silence threshold (`narrowBandSilenceThreshold`), in the
    /// same ratio, so the margin above holds there too.
    static let searchGate: Float = 0.005
    /// Strength bonus per octave up (Praat: 0.01). Only a tie-breaker here, for strictly periodic input
    /// where every multiple of the period scores 1: without the fundamental, a voice whose odd harmonics
    /// are weak correlates almost as well at half its period, so octave-up errors dominate on telephone
    /// audio and a standing bias towards higher candidates adds to them. The bias that noise calls for
    /// comes from `lagCost`, which vanishes for clean peaks.
    public static let octaveCost: Float = 0.002
    /// Path cost per octave of F0 change between consecutive frames. Above Praat's 0.35: without the
    /// fundamental, onsets in noise often start an octave off, and the path must be willing to rejoin.
    public static let octaveJumpCost: Float = 0.5
    /// Strength penalty for long lags, scaled by how unsure the peak is (1 − r): a normalised
    /// autocorrelation is estimated from fewer overlapping samples the longer the lag, so in noise the
    /// multiples of the period win by chance more often than the period itself (RAPT's lag weight, but
    /// vanishing for clean peaks, where an octave-up candidate must not gain from it).
    public static let lagCost: Float = 0.3
    /// Path cost of switching between voiced and unvoiced where the band energy is steady (Praat: 0.14; see
    /// `transitionContrast` for how it falls at onsets and offsets).
    public static let voicedUnvoicedCost: Float = 0.3
    /// How strongly the voicing switch follows the band energy (RAPT's amplitude-ratio transition cost): with
    /// q = (E(k + 2) / E(k − 2))^`transitionContrast`, E the energy of the frame's window in the search band
    /// (below 2 kHz), entering voicing at frame k costs 2 · `voicedUnvoicedCost` / (1 + q) and leaving it
    /// 2 · `voicedUnvoicedCost` · q / (1 + q). A voice starts where the low band grows and stops where it
    /// fades, so those switches are cheap there (a 3 dB rise over 40 ms makes entering cost a ninth of the
    /// steady cost) and dear in steady stretches: a weak but periodic onset or offset joins its voiced run,
    /// while a steady pause or fricative needs clear periodicity to flip. Tuned with `voicedUnvoicedCost`
    /// and `voicingThreshold` on the tune halves of `Tools/pitch_eval.py` (seeds 1, 2) and
    /// `Tools/pitch_eval_real.py` (tune speakers): against Praat's 0.14 and 0.45 they trade the misses at weak
    /// onsets and offsets of real (male, telephone) voices for few false voicings.
    public static let transitionContrast: Float = 3
    /// Path cost of starting a voiced run at a candidate far from the speaker's usual F0: per octave beyond
    /// `speakerTolerance` from the running mean log F0 of the frames decided voiced so far, times (1 − r),
    /// r being the candidate's correlation within the search band. Inside a voiced run the octave-jump cost
    /// keeps the path on one octave, but nothing links a run to the previous one across a pause, so a short
    /// or weak run decides its octave alone — and without the fundamental (telephone band) a voice's
    /// harmonics correlate almost as well at half or twice its period. Such whole runs an octave off were
    /// most of the remaining gross errors on telephone audio. Paid once per run, so a long, clear excursion
    /// away from the mean still wins, and scaled by the in-band doubt so clean peaks pay almost nothing.
    /// The in-band r (before the energy-share scaling) keeps broadband noise above the search band, which
    /// says nothing about the octave, from raising the doubt. 3, up from 2: on every EmoDB file of the tune
    /// speakers (`Tools/pitch_eval_real.py --split tune --every-file`) telephone GPE 3.07 → 2.76 % (RAPT 3.06)
    /// for VDE +0.02, telephone + pink noise GPE 4.25 → 3.87 for VDE +0.13; synthetic tune seeds 1 and 2, GPE
    /// the same or lower in every condition. 4 and 6 lowered GPE further but cost more voicing.
    ///
    /// A voiced step that climbs further above the band pays the same (r of the new candidate, octaves of
    /// the climb beyond the band), as if the run had started there: otherwise a run that began at the
    /// right octave jumped to its octave above (a male voice's falling phrase end, whose odd harmonics fade
    /// behind a telephone's high-pass, correlates better at half its period for a few frames) for only the
    /// `octaveJumpCost`, and never came back, since jumping down costs the same again. Climbs only:
    /// creaky voice really halves F0 at phrase ends, and a cost on the way down moved clean tracks off the
    /// Praat-and-RAPT consensus. On the every-file tune set telephone GPE 2.76 → 2.37 % (male 4.71 → 3.81,
    /// RAPT 3.46), VDE 3.60 → 3.48; telephone + pink noise GPE 3.87 → 3.59 for VDE +0.05; clean and white
    /// noise unchanged; synthetic tune seeds 1 and 2 telephone GPE 4.43 → 3.06 and 5.00 → 3.23 % for
    /// VDE +0.3 (runs of low and breathy voices that climbed now end early instead). Twice the cost
    /// lowered GPE further but raised it in white noise and cost more voicing.
    public static let speakerCost: Float = 3
    /// On a narrow-band line (see `wideBandShare`) the doubt (1 − r) of a candidate above the speaker's band
    /// is at least this much: without the fundamental, a voice whose odd harmonics are weak correlates as well
    /// at half its period, so a clean peak says nothing about which of the two octaves it is, and whole short
    /// runs started an octave up for a speaker cost of almost nothing. On the every-file tune set telephone
    /// GPE 2.37 → 2.14 % (male 3.81 → 3.28, RAPT 3.46), telephone + pink noise 3.59 → 3.35, VDE +0.02; octave-
    /// down errors unchanged (58 frames); synthetic tune seeds 1 and 2 telephone + pink 4.18 → 3.80 and
    /// telephone 3.23 → 2.80 %. 0.3 and 0.5 gained little more on real speech and made octave-down errors of
    /// breathy and raised voices (synthetic seed 2: 61 → 69 frames at 0.3; real: 58 → 91 at 0.5).
    static let narrowBandDoubt: Float = 0.2
    /// On a wide-band line (see `wideBandShare`) a candidate above the speaker's mean pays no `speakerCost`
    /// when the frame has a candidate at half its frequency (within `subOctaveTolerance`) whose correlation
    /// is no higher. Any periodic signal correlates as well at twice its period as at its period, so a high
    /// voice (a raised, emotional 400 Hz) always has a sub-octave candidate near a lower speaker's mean, and
    /// in broadband noise the speaker cost alone handed whole short runs to it. The exception needs the
    /// fundamental's band: on a telephone line, where it is missing, a voice whose odd harmonics are weak
    /// correlates almost as well at half its period, and the octave above is the error the speaker cost
    /// is there to prevent.
    static let subOctaveTolerance: Float = 0.1
    /// On a wide-band line, in a frame with broadband noise (band weight, the root of the band's energy share,
    /// below `noisyBandWeight`), a sub-octave that correlates less than `subOctaveMargin` better than its
    /// octave is ranked `subOctaveStep` below it. White noise lets the longer lag win by chance, and a short
    /// high run decides its octave from a few such frames. Telephone frames keep most of their energy in
    /// the band (and are not wide band), so the octave-up risk there is untouched.
    static let subOctaveMargin: Float = 0.1
    static let subOctaveStep: Float = 0.01
    static let noisyBandWeight: Float = 0.9
    /// Level-gated running mean of the share of in-band energy between 45 and 190 Hz above which the line
    /// counts as wide band. Behind a 300 Hz telephone high-pass only the tail of a fundamental near 200 Hz
    /// is left there: on synthetic telephone speech (`Tools/pitch_eval.py`) the mean stayed under 1.5 %
    /// (median 0.4 %), with white noise at 16 kHz above 1.7 %. Clean wide-band audio of a high voice may
    /// stay below it, where the sub-octave rarely correlates better anyway.
    static let wideBandShare: Float = 0.016
    /// Weight of each loud frame's share in that running mean (about 1 s).
    static let wideBandAdapt: Float = 0.01
    /// Frames quieter than this fraction of the running peak do not update it: μ-law and dither noise in
    /// pauses is white and would make any line look wide band.
    static let wideBandLevel: Float = 0.1
    /// Octaves either side of the speaker's running mean F0 that cost nothing on entering a voiced run.
    public static let speakerTolerance: Float = 0.3
    /// Weight of each newly decided voiced frame in the speaker's running mean (about 1 s of voicing);
    /// the first frames are averaged equally.
    static let speakerAdapt: Float = 0.01
    /// Voiced frames decided before the speaker's mean is used.
    static let speakerWarmUp: Float = 10
    /// How far (in strength) below its unvoiced strength a frame just before a voiced run may stay and still
    /// join the run, at a candidate within `onsetTolerance` octaves of the run's first F0, for up to
    /// `onsetReach` frames: a voicing threshold that is lower next to a voice than away from one, like the
    /// hysteresis of an energy detector. The window of a frame at a voice onset straddles it, and the
    /// period's correlation there is diluted by the silence before it — most on a telephone line, which
    /// removes the fundamental and the low harmonics that carry the first, weak glottal cycles — so the
    /// path started its runs late: on the telephone version of real speech (`Tools/pitch_edges.py`, tune
    /// speakers) attune missed the first frame of 42 % of male voiced runs against RAPT's 21 %, and in
    /// four of five such misses the frame held a candidate at the run's F0, two in five of those within 0.1
    /// of the unvoiced strength. Values chosen on the tune halves of `Tools/pitch_eval_real.py` (telephone
    /// VDE 4.43 → 3.86 %, against the Praat+RAPT reference) and `Tools/pitch_eval.py` (seeds 1, 2), with
    /// the smallest margin that got most of the gain: the extension adds as much false voicing before a
    /// run on clean audio as it removes misses there.
    static let onsetMargin: Float = 0.1
    static let onsetTolerance: Float = 0.1
    static let onsetReach = 2
    /// `onsetMargin` on a narrow-band line (see `wideBandShare`). The reason is `narrowBandSilenceThreshold`'s: behind
    /// a telephone's high-pass the first, weak glottal cycles have lost the fundamental and low harmonics that carry
    /// them, so an onset frame's periodicity falls further short of the unvoiced strength than the same frame heard
    /// wide band, and runs still began late: attune missed the first frame of 31 % of male voiced runs on the telephone
    /// copies of the tune speakers (`Tools/pitch_edges.py`) against RAPT's 21 %. Wide-band lines keep `onsetMargin`,
    /// where a wider margin added as much false voicing before runs on clean audio as it removed misses (session 10's
    /// comparison).
    ///
    /// Chosen on every EmoDB file of the tune speakers (`Tools/pitch_eval_real.py --split tune --every-file`) and
    /// synthetic seeds 1–9 of `Tools/pitch_eval.py`, as the widest margin at which real GPE stays within 0.01 of the
    /// old in every standard condition (0.25 and 0.3 raised telephone + pink GPE by 0.02–0.05):
    /// - real, 3-way reference: telephone VDE 3.49 → 3.30 % (misses 2.96 → 2.61, false voicing 0.52 → 0.69; RAPT
    ///   3.19), telephone + pink 14.26 → 13.44; Praat+RAPT reference 4.48 → 4.32 (RAPT 3.62) and 14.58 → 13.77;
    ///   GPE 1.47 → 1.48 and 2.83 → 2.82;
    /// - first frames of voiced runs missed (`Tools/pitch_edges.py`): male 31 → 25 % (RAPT 21 %), female
    ///   22 → 17 % (RAPT 18 %);
    /// - the costs: fine error in the plain column up by 0.3 ¢ on telephone audio (17.3 → 17.6; Praat 20.6) and by
    ///   1.3 ¢ with pink noise (20.0 → 21.3; Praat 19.9), because the frames gained straddle the onset and their F0
    ///   is less certain (46 ¢ RMS from the reference on telephone audio, against 17 ¢ for the other frames);
    ///   AMR-NB 12.2 kbit/s GPE 2.29 → 2.37. Synthetic seeds 1–9: telephone VDE 6.14 → 6.15, with pink noise
    ///   11.41 → 11.20, GPE 4.30 → 4.36 and 4.48 → 4.59 (runs that already began at a wrong octave, extended by up
    ///   to two frames).
    ///
    /// Against the synthetic truth about half of the frames gained are false voicing (seeds 1–9, telephone: 248 before
    /// a run's truth onset, 200 right, 36 gross); against the real references most are gained misses. The issue's
    /// laryngograph figures for real telephone speech were mostly misses (8.3 of 9.3 VDE points).
    static let narrowBandOnsetMargin: Float = 0.2
    /// A voiced run holding `toneFrames` frames in a row (100 ms) whose F0 moves by less than `toneStep`
    /// octaves (0.2 %) from frame to frame is a tone — ringback, a dial tone, hold music — and none of its
    /// frames within `toneReach` of that stretch teaches the speaker's mean. Jitter alone moves a voice's
    /// tracked F0 by 0.2–1 % from frame to frame, so ten steadier steps in a row are rare in speech; a pure
    /// tone moves by 0.00003 %, two-tone ringback beats by up to 0.16 %. A tone learnt as the speaker's voice
    /// pushes a low voice's later runs an octave or two up. (Ringback buried in noise at under ~20 dB SNR
    /// jitters like a voice and is still learnt.)
    static let toneFrames = 10
    static let toneStep: Float = 0.003
    static let toneReach = 20
    /// A window peak moves the level reference (see stage 3) only up to `referenceMargin` (10 dB) above a
    /// level that six of the last `referenceFrames` (8) window peaks reach: a burst of up to 60 − 41.5 ≈ 18 ms
    /// (the analysis window spreads it over five frames) lifts it by 10 dB at most, leaving a voice 20 dB
    /// above the reference's `silenceThreshold`; within speech, whose peaks seldom stand 10 dB above the
    /// 60 ms around them, and at an onset, which six of the eight frames ahead already hear, the reference
    /// is the plain running peak.
    static let referenceFrames = 8
    static let referenceMargin: Float = 3.16
    /// Frames the path search looks past a frame before deciding it (`latency` − `peakLead`): the traced-back
    /// paths have merged by then. It was 25; on the tune material 20 decides the same (real speech,
    /// `Tools/pitch_eval_real.py --split tune --every-file`, 257 files, Praat+RAPT consensus: GPE clean 0.22 →
    /// 0.23 %, telephone 1.71 → 1.65, telephone + pink 3.01 → 2.93, VDE within 0.03 points; synthetic seeds 1–9
    /// of `Tools/pitch_eval.py`, mean of the `all` rows: GPE within +0.04 / −0.13 points, VDE within 0.02;
    /// syllable counts of `Tools/rate_eval.py --split tune` identical), and 50 ms of the fixed delay go. 18 raised
    /// GPE in telephone + pink noise by 0.10 (synthetic), 15 doubled it on clean real speech (0.22 → 0.32 %:
    /// halvings inside runs), and a shorter `peakLead` (10, 12) added false voicing on clean real speech.
    static let pathLookAhead = 20
    /// Samples (at `searchRate`, 16 ms; a multiple of 8 for the vector loop) of each stretch in `shortPeriodicity`.
    static let shortLength = 64
    /// Voiced candidates kept per frame.
    static let maxCandidates = 8
    /// Rate of the candidate search.
    static let searchRate = 4000
    /// Taps each side of a lag in the sinc interpolation of the autocorrelation.
    static let sincDepth = 8
    /// Autocorrelation FFT length at the search rate.
    static let fftSize = 256
    /// Lags longer than this share of the analysis window are long: for a low speaker, their r is read otherwise
    /// when it passes 1.
    ///
    /// The window is three periods of the floor only up to 41.5 ms (the 256-point FFT). A 55 Hz period (18 ms)
    /// overlaps itself there for 1.3 periods, the window's own autocorrelation that r is divided by is small, and
    /// r's height is noise magnified: often above 1, which the fold (1/r, Praat's) turns into a weak peak, handing
    /// the frame to a chance peak at 5/6 of the period (+300 ¢) or to a harmonic. Runs of such frames were most of
    /// the low voices' telephone errors on the tune seeds (`Tools/pitch_eval.py --seed 1…9`: fine error below 70 Hz
    /// 86 ¢ against Praat's 60). So once the speaker's running mean F0 lies less than an octave above the long lags'
    /// frequencies (138 Hz), a long-lag candidate whose r passes 1 gets, in place of the fold, the correlation
    /// coefficient of the window's two stretches one period apart over their whole overlap (RAPT's NCCF): bounded
    /// by 1 and not divided by the window. Tried and not taken, on the tune seeds and speakers:
    /// - the NCCF for every long lag: fewer gross errors on the seeds (telephone 4.07 against 4.25 %), but in
    ///   heavy noise a low voice lost frames to its octave above (the hold-music test's control, 154 → 145 of 173),
    ///   since r and the NCCF are then weighed against each other for the same voice;
    /// - the better of the two: more octave-down errors with noise (telephone + pink 4.59 → 4.71 %);
    /// - without the speaker condition: the tune speakers' telephone GPE 1.48 → 1.59 % (before the mean is known,
    ///   and for higher speakers, a long lag is mostly a sub-octave, and the fold's doubt of it is what keeps male
    ///   voices on telephone lines out of octave-down starts).
    /// 0.30, 0.35 and 0.40 were tried (for every long lag); 0.35 made the fewest gross errors.
    static let longLagShare: Float = 0.35

    /// Samples per hop at `settings.sampleRate` (`settings.hopSize` rounds a Double on every read).
    let hop: Int
    /// Decimation factor from `settings.sampleRate` to `searchRate`.
    let factor: Int
    /// Half-length of the decimation FIR (taps = 2·firHalf + 1).
    let firHalf: Int
    let fir: UnsafeBufferPointer<Float>
    /// FIR length rounded up to a whole number of SIMD vectors (zero taps at the end).
    let firPadded: Int
    /// Decimated samples by decimated stream position `j` (full-rate position `j · factor`), at `j & ringMask`
    /// and again `ringMask + 1` further on.
    let ring: UnsafeMutableBufferPointer<Float>
    let ringMask: Int
    /// Next decimated position not yet computed.
    var nextDecimated = Int.min

    /// Analysis window length at the search rate, and half of it (window covers centre − half ..< centre − half + n).
    let analysisLength: Int
    let analysisHalf: Int
    let minLag: Int
    let maxLag: Int
    /// log2 of the pitch floor, the origin of the candidates' octave term.
    let floorOctave: Float
    /// Lags beyond this (at the search rate) are long (see `longLagShare`).
    let longLag: Float
    /// A speaker whose running mean log2 F0 is below this gets long lags read by their overlap (see `longLagShare`).
    let lowSpeakerOctave: Float
    let hann: UnsafeBufferPointer<Float>
    /// Reciprocal of the window's normalised autocorrelation, by lag.
    let windowACInverse: UnsafeBufferPointer<Float>
    let fft: RealFFT
    /// Normalised autocorrelation of the current frame, by lag (0..<rLength).
    let rLength: Int
    /// Lags −sincDepth..<rLength (negative lags mirror positive ones, so interpolation needs no bounds checks).
    let rStorage: UnsafeMutableBufferPointer<Float>
    let r: UnsafeMutablePointer<Float>
    /// Scratch for the lags of a frame's local maxima of `r` (see `collectPeaks`).
    let peakLags: UnsafeMutableBufferPointer<Int>
    /// The power spectra (bins 0..<powerBins each) of the current frame and the one before, at `index & 1`,
    /// kept from the FFT pair for the sub-harmonic checks (see `oddHarmonicContrast`), the frame each slot holds
    /// (−1: none), and the bin spacing in Hz.
    let framePower: UnsafeMutableBufferPointer<Float>
    let powerFrame: UnsafeMutableBufferPointer<Int>
    let powerBins: Int
    let binHz: Float

    /// Full-rate Hann window over the same span as `hann`, squared, and the sums of both windows' squares.
    let hannFull: UnsafeBufferPointer<Float>
    let hannPower: Float
    let hannFullPower: Float

    /// Path-search history: `slots` frames of `stride` states each, frame `k` at `(k & slotMask) · stride`.
    /// State 0 is unvoiced; states 1..<count are voiced candidates.
    let slots: Int
    let slotMask: Int
    let stride: Int
    let candFrequency: UnsafeMutableBufferPointer<Float>
    let candCorrelation: UnsafeMutableBufferPointer<Float>
    /// log2 of each candidate's frequency, so the path search's octave costs are subtractions.
    let candOctave: UnsafeMutableBufferPointer<Float>
    let candStrength: UnsafeMutableBufferPointer<Float>
    /// Multiplier of `speakerCost` for a candidate above the speaker's mean: 0 where it is waived (see
    /// `subOctaveTolerance`), else 1.
    let candAboveWeight: UnsafeMutableBufferPointer<Float>
    /// States, counts and paths are below `stride` (9), so a byte holds them: the trace-back follows
    /// `backPointer` from frame to frame, each load waiting for the one before, and 9 bytes a frame keep the
    /// 25 frames it walks in four cache lines (36 bytes a frame spread them over fifteen, each a miss when
    /// the channel's state has gone cold between visits).
    let backPointer: UnsafeMutableBufferPointer<UInt8>
    let candCount: UnsafeMutableBufferPointer<UInt8>
    /// Best periodicity of each frame (reported as voicing).
    let periodicity: UnsafeMutableBufferPointer<Float>
    /// Each frame's scaling of its correlations by the band's energy share (√ share, see `collectPeaks`).
    let bandWeight: UnsafeMutableBufferPointer<Float>
    /// FFT bins of the low band that tells a wide-band line from a telephone one (see `wideBandShare`).
    let lowBandFirst: Int
    let lowBandLast: Int
    /// Running mean of the low band's share of in-band energy over loud frames (see `wideBandShare`).
    var lowBandShare: Float = 0
    /// Energy of each frame's window in the search band, for the voicing switch's cost (`transitionContrast`).
    let bandEnergy: UnsafeMutableBufferPointer<Float>
    /// Peak level of each frame's window, turned into its unvoiced strength `peakLead` frames later.
    let framePeak: UnsafeMutableBufferPointer<Float>
    /// Frames the path search trails the analysis by, so the running peak has seen a little of the future.
    let peakLead: Int
    /// Accumulated path scores of the newest frame, and scratch for the next one.
    var score: UnsafeMutableBufferPointer<Float>
    var nextScore: UnsafeMutableBufferPointer<Float>
    /// States along a traced-back path, by frame slot.
    let path: UnsafeMutableBufferPointer<UInt8>

    /// Running mean of log2 F0 over the frames decided voiced (see `speakerCost`), and how many it has seen.
    /// Fed from decided frames only, so it is the same however the stream is cut into blocks.
    var speakerOctave: Float = 0
    var speakerFrames: Float = 0

    /// Last frame analysed, and the last decided.
    var lastAnalysed = -1
    var lastDecided = -1
    /// The steady stretch on the decided path up to `lastDecided` (see `isTone`): the first frame of the voiced
    /// run that ends there, how many frames in a row end there whose F0 each moves by less than `toneStep` from
    /// the one before (0 if `lastDecided` is unvoiced), and the newest decided frame that ended `toneFrames` such.
    var voicedFrom = 0
    var steadyFrames = 0
    var lastSteadyEnd = Int.min / 2
    /// Newest frame of the last trace-back (see `trace`).
    var tracedFrom = -1
    /// Level reference (stage 3): the running window peak, each capped by `referenceMargin`, decaying by `peakDecay` per frame.
    var runningPeak: Float = 0
    let peakDecay: Float

    public init(settings: AnalysisSettings) {
        self.settings = settings
        let rate = settings.sampleRate
        precondition(rate % Self.searchRate == 0, "PitchTracker: sample rate \(rate) Hz is not a multiple of \(Self.searchRate) Hz")
        factor = rate / Self.searchRate
        hop = settings.hopSize
        peakLead = 15
        latency = peakLead + Self.pathLookAhead

        let search = Double(Self.searchRate)
        minLag = max(2, Int((search / settings.pitchCeiling).rounded(.down)))
        maxLag = Int((search / settings.pitchFloor).rounded(.up))
        floorOctave = log2(Float(settings.pitchFloor))
        // Three periods of the floor like Praat, but no longer than a 256-point FFT can correlate out to the
        // floor's lag (43 ms at the 50 Hz default): the FFT pair is most of this stage's cost.
        // Lags up to the floor's period, plus room for the sinc interpolation around it.
        rLength = maxLag + 2 + Self.sincDepth
        var fftLength = Self.fftSize
        while fftLength - rLength < 2 * maxLag { fftLength <<= 1 }
        // A zero-padded FFT of length N gives the linear autocorrelation out to lag N − n.
        analysisLength = min(Int((3 * search / settings.pitchFloor).rounded(.up)), fftLength - rLength)
        analysisHalf = analysisLength / 2
        longLag = Self.longLagShare * Float(analysisLength)
        lowSpeakerOctave = log2(2 * Float(search) / longLag)

        // Windowed-sinc low-pass, cut-off 1.8 kHz, Blackman window: ~60 dB stop band from about 2.2 kHz.
        // Anything from 2.2 kHz up would fold into the 0–1.8 kHz band at 4 kHz and, not being a harmonic
        // there, spoil the periodicity, so the low-pass must be down by 2.2 kHz: windowed sinc with
        // a cut-off of 1.95 kHz; a Hamming window needs ≈ 3.3 · rate / 500 Hz taps for that transition.
        firHalf = factor == 1 ? 0 : Int((3.3 * Double(rate) / 500 / 2).rounded(.up))
        firPadded = (2 * firHalf + 1 + 7) & ~7
        // The full-rate window must reach every input tap of every decimated sample in the analysis window.
        let reachBack = analysisHalf * factor + firHalf
        // Plus a vector's worth, read (and multiplied by zero) by the padded loops.
        let reachForward = (analysisLength - analysisHalf - 1) * factor + firHalf + 8
        windowLength = 2 * max(reachBack, reachForward) + 1

        var ringSize = 1
        while ringSize < analysisLength + 2 * settings.hopSize { ringSize <<= 1 }
        // Mirrored (each sample stored at p and p + ringSize) so any analysis window is one contiguous run.
        ring = .allocate(2 * ringSize, filledWith: 0)
        ringMask = ringSize - 1

        let fftSize = fftLength
        fft = RealFFT(size: fftSize)
        lowBandFirst = Int((45 * Double(fftSize) / search).rounded(.up))
        lowBandLast = Int(190 * Double(fftSize) / search)

        // The FIR and the windows are the same for every channel with these settings: one read-only copy
        // (see `Tables`), so a visit to a channel does not bring its own copy back into cache.
        let tables = Tables.shared(Tables.Geometry(rate: rate, factor: factor, firHalf: firHalf, firPadded: firPadded,
                                                   analysisLength: analysisLength, fftLength: fftLength, rLength: rLength))
        fir = tables.fir
        hann = tables.hann
        windowACInverse = tables.windowACInverse
        hannFull = tables.hannFull
        hannPower = tables.hannPower
        hannFullPower = tables.hannFullPower
        rStorage = .allocate(rLength + Self.sincDepth, filledWith: 0)
        r = rStorage.baseAddress! + Self.sincDepth
        precondition(rLength >= maxLag + 9, "attune_local_maxima reads r up to maxLag + 8")
        peakLags = .allocate((maxLag - minLag) / 2 + 1, filledWith: 0)
        powerBins = fftSize / 2 + 1
        framePower = .allocate(2 * powerBins, filledWith: 0)
        powerFrame = .allocate(2, filledWith: -1)
        precondition(Self.thirdHarmonicFrames <= 2, "framePower keeps two spectra")
        binHz = Float(search / Double(fftSize))

        var slotCount = 1
        // The tone test reads the path `toneReach` frames either side of the frame being decided, which may
        // lie `latency` frames behind the newest.
        while slotCount < latency + Self.toneReach + 2 { slotCount <<= 1 }
        slots = slotCount
        slotMask = slotCount - 1
        stride = Self.maxCandidates + 1
        candFrequency = .allocate(slots * stride, filledWith: 0)
        candCorrelation = .allocate(slots * stride, filledWith: 0)
        candOctave = .allocate(slots * stride, filledWith: 0)
        candStrength = .allocate(slots * stride, filledWith: 0)
        candAboveWeight = .allocate(slots * stride, filledWith: 1)
        backPointer = .allocate(slots * stride, filledWith: 0)
        candCount = .allocate(slots, filledWith: 1)
        periodicity = .allocate(slots, filledWith: 0)
        bandWeight = .allocate(slots, filledWith: 1)
        framePeak = .allocate(slots, filledWith: 0)
        bandEnergy = .allocate(slots, filledWith: 0)
        score = .allocate(stride, filledWith: 0)
        nextScore = .allocate(stride, filledWith: 0)
        path = .allocate(slots, filledWith: 0)
        // Half-life of 10 s: long pauses do not make the line noise look loud.
        peakDecay = Float(pow(0.5, settings.hopSeconds / 10))
    }

    deinit {
        ring.deallocate(); rStorage.deallocate(); peakLags.deallocate(); framePower.deallocate(); powerFrame.deallocate()
        candFrequency.deallocate(); candCorrelation.deallocate(); candOctave.deallocate(); candStrength.deallocate(); candAboveWeight.deallocate(); backPointer.deallocate()
        candCount.deallocate(); periodicity.deallocate(); framePeak.deallocate(); bandEnergy.deallocate(); bandWeight.deallocate(); score.deallocate(); nextScore.deallocate(); path.deallocate()
    }

    /// What a decided frame gets: its index, F0 (0 when unvoiced), voicing (0…1) and harmonics-to-noise
    /// ratio in dB (nil when unvoiced).
    public typealias Decided = (Int, Float, Float, Float?) -> Void

    /// Analyses frame `index` and calls `decided(frame, f0, voicing, hnrDB)` for every frame that is now final, in order.
    /// Frames must be analysed in increasing order, starting at 0; `window` is `windowLength` samples centred on the frame.
    public func analyze(index: Int, window: UnsafeBufferPointer<Float>, decided: Decided) {
        precondition(index == lastAnalysed + 1, "PitchTracker: frames must arrive in order")
        precondition(window.count == windowLength, "PitchTracker: window of \(window.count) samples, expected \(windowLength)")
        decimate(index: index, window: window)
        findCandidates(index: index, window: window)
        lastAnalysed = index
        let pathFrame = index - peakLead
        if pathFrame >= 0 { advancePath(index: pathFrame) }
        let target = index - latency
        if target > lastDecided {
            trace(from: pathFrame, downTo: target)
            emit(through: target, tracedTo: pathFrame, decided: decided)
        } else if pathFrame >= 0 {
            // Before the first decision: traced all the same, so `provisional` has a path from the start.
            trace(from: pathFrame, downTo: 0)
        }
    }

    /// Frame `index`'s periodicity and whether the newest traced path voices it, before the frame is decided:
    /// for a consumer that cannot wait `latency` frames and can live with a voicing that may still change
    /// (the path has looked `lastAnalysed − peakLead − index` frames past it, and the onset extension of
    /// stage 5 has not run). The periodicity is the one the decision will report. `index` must lie after the
    /// newest decided frame and no later than the newest traced one, `lastAnalysed − peakLead`.
    public func provisional(_ index: Int) -> (voiced: Bool, periodicity: Float) {
        precondition(index > lastDecided && index <= tracedFrom, "PitchTracker: frame \(index) is not on the traced path")
        let slot = index & slotMask
        return (path[slot] != 0, periodicity[slot])
    }

    /// Decides every frame still pending.
    public func finish(decided: Decided) {
        guard lastAnalysed > lastDecided else { return }
        for k in max(0, lastAnalysed - peakLead + 1)...lastAnalysed { advancePath(index: k) }
        trace(from: lastAnalysed, downTo: lastDecided + 1)
        emit(through: lastAnalysed, tracedTo: lastAnalysed, decided: decided)
    }

    /// Boersma's harmonics-to-noise ratio of a window-corrected normalised autocorrelation peak `r`, in dB,
    /// within ``hnrRange``. r is first kept off 0 and 1 (±60 dB), so the logarithm always sees a finite ratio.
    @inline(__always)
    public static func harmonicsToNoise(_ r: Float) -> Float {
        let clamped = min(1 - 1e-6, max(1e-6, r))
        return min(hnrRange.upperBound, max(hnrRange.lowerBound, 10 * log10f(clamped / (1 - clamped))))
    }
}
