import AttuneDSP
import AttuneEvents
import AttuneText

/// One caller's emotional reading: their baseline, their voice now, what they said recently, and how strongly
/// each emotion kind is present, as scores 0…1 for the ``EventTracker``s.
///
/// Arousal comes from the voice relative to the caller's own baseline: F0 (semitones) and spectral balance (dB
/// more energy above 1 kHz), the two cues that carry vocal arousal across speakers and languages. Level is
/// reported as evidence but does not drive arousal: telephone AGC, headset distance and a corpus's
/// normalisation change it more than emotion does. Valence comes from the words; the voice alone cannot tell
/// anger from joy, so a high-arousal voice with no words counts as frustration only with the confidence that
/// reading deserves.
///
/// A value held in place in the call's state (``FusionState``) and changed only through `mutating` calls there,
/// so that none of its per-frame reads and writes pays a run-time exclusivity check.
struct ChannelEmotion {
    let settings: FusionSettings
    private(set) var baseline: SpeakerBaseline
    private var window: VoiceWindow
    private(set) var text = TextMemory()

    /// The latest reading of the voice against the baseline; nil while learning or without enough speech.
    private(set) var deviation: Deviation?
    /// Articulation-rate deviation of the last closed segment (fraction), and when it closed.
    private var rateDeviation: (value: Double, at: Double)?
    private var lastSegmentEnd: Double?
    /// Ends of pauses within the caller's turns that were longer than hesitant, for the recent count.
    private var hesitantPauses: [Double] = []
    private var lastPauseSeconds: Double?
    private var lastSpeechT = -Double.infinity
    /// When another channel of the call last spoke: a pause the other side filled is a turn change, not the
    /// caller hesitating or withdrawing.
    private var otherSpokeAt = -Double.infinity

    mutating func otherSideSpoke(at t: Double) { otherSpokeAt = t }
    private var speechFramesSinceRead = 0

    struct Deviation: Sendable, Equatable {
        var f0ST: Double?
        var energyDB: Double?
        var balanceDB: Double?
        var hnrDB: Double?
        /// −1…1.
        var arousal: Double
    }

    init(settings: FusionSettings, hopSeconds: Double) {
        self.settings = settings
        baseline = SpeakerBaseline(settings: settings, hopSeconds: hopSeconds)
        window = VoiceWindow(frames: Int((settings.windowSpeechSeconds / hopSeconds).rounded()))
    }

    var arousal: Double { deviation?.arousal ?? 0 }

    /// Takes one frame. `flagged` says an emotion event is open or arousal is raised: such speech does not teach
    /// the baseline once it can already compare.
    mutating func observe(_ s: VoiceSample, flagged: Bool) {
        guard s.speech else {
            // A long silence ends the reading: the next words are judged on their own.
            if s.t - lastSpeechT > 2.0, window.count > 0 { window.reset(); deviation = nil }
            return
        }
        lastSpeechT = s.t
        window.add(s)
        speechFramesSinceRead += 1
        if baseline.readiness == .learning || !flagged { baseline.learn(s) }
    }

    /// Re-reads the voice if new speech came in since the last read.
    mutating func read() {
        guard speechFramesSinceRead > 0 else { return }
        speechFramesSinceRead = 0
        // A third of the window must be there before a reading means anything.
        guard baseline.readiness != .learning, window.count >= window.capacity / 3 else { return }
        let minimumVoiced = Int((Double(window.capacity) * settings.minimumVoicedShare / 2).rounded(.up))
        let now = window.read(minimumVoiced: minimumVoiced)
        var d = Deviation(f0ST: nil, energyDB: nil, balanceDB: nil, hnrDB: nil, arousal: 0)
        if let f = now.f0ST, now.voicedShare >= settings.minimumVoicedShare, let b = baseline.f0.median { d.f0ST = f - b }
        if let e = now.energyDB, let b = baseline.energy.median { d.energyDB = e - b }
        if let x = now.balanceDB, let b = baseline.balance.median { d.balanceDB = x - b }
        if let h = now.hnrDB, let b = baseline.hnr.median { d.hnrDB = h - b }
        var parts = 0.0
        var weight = 0.0
        if let f = d.f0ST { parts += f / settings.f0ScaleST; weight += 1 }
        if let x = d.balanceDB { parts += x / settings.balanceScaleDB; weight += 1 }
        d.arousal = weight > 0 ? min(max(parts / weight, -1), 1) : 0
        deviation = d
    }

    /// Takes a closed segment of this caller.
    mutating func observe(segment s: SegmentStats) {
        let duration = s.end - s.start
        let turnChanged = lastSegmentEnd.map { otherSpokeAt > $0 } ?? true
        let pauseBefore = turnChanged ? nil : lastSegmentEnd.map { s.start - $0 }
        if let median = baseline.rate.median, median > 0, duration >= 0.5 {
            rateDeviation = (s.rateSPS / median - 1, s.end)
        }
        if let p = pauseBefore, p >= settings.hesitantPauseSeconds, p < settings.deadAirSeconds {
            hesitantPauses.append(s.start)
            lastPauseSeconds = p
        } else {
            lastPauseSeconds = nil
        }
        if baseline.readiness == .learning || (deviation?.arousal ?? 0) < settings.arousalOff {
            baseline.learn(rate: s.rateSPS, duration: duration, pauseBefore: pauseBefore)
        }
        lastSegmentEnd = s.end
    }

    mutating func take(_ reading: TextReading, utterance: TranscriptUtterance) {
        text.take(reading, utterance: utterance)
    }

    mutating func forget(before t: Double) {
        text.forget(before: t)
        hesitantPauses.removeAll { $0 < t - 10 }
    }

    private func clip(_ x: Double) -> Double { min(max(x, 0), 1) }

    /// Rate deviation that still counts at `t` (a segment's rate speaks for the next few seconds).
    private func rate(at t: Double) -> Double? {
        guard let r = rateDeviation, t - r.at <= 5 else { return nil }
        return r.value
    }

    /// How present negative and complaint words are at `t`, 0…1.
    private func negativeWords(at t: Double) -> Double {
        max(text.strength(.negative, at: t, polarity: .negative), text.strength(.complaint, at: t, polarity: .notNegated))
    }

    /// How present positive words, thanks and satisfaction are at `t`, 0…1.
    private func positiveWords(at t: Double) -> Double {
        max(text.strength(.positive, at: t, polarity: .positive), text.strength(.gratitude, at: t),
            text.strength(.satisfaction, at: t, polarity: .notNegated))
    }

    /// A kind's score and whether the time since the last step counts towards its minimum time on.
    typealias Scored = (score: Double, counting: Bool)

    /// Scores each of `kinds` at `t` into `scored`; a voice-driven kind's time counts when the caller `spoke` since
    /// the last step or words support it. `mutating` only so that it runs in place: a non-mutating method called on
    /// the element of the call's array got a copy of the whole value, every array in it retained, six times a step.
    mutating func score(_ kinds: [EventKind], at t: Double, spoke: Bool, into scored: UnsafeMutableBufferPointer<Scored>) {
        for k in kinds.indices {
            let kind = kinds[k]
            scored[k] = (score(kind, at: t), Self.isVoiceDriven(kind) ? spoke || wordsSupport(kind, at: t) : true)
        }
    }

    /// How strongly `kind` is present at `t`, 0…1; 0 while the baseline is learning (voice-driven kinds).
    func score(_ kind: EventKind, at t: Double) -> Double {
        let voiceReady = baseline.readiness != .learning
        let a = voiceReady ? arousal : 0
        let negative = negativeWords(at: t)
        // A negated negative ("not bad") counts for the scores as a positive word.
        let positive = max(positiveWords(at: t), text.strength(.negative, at: t, polarity: .positive))
        let rate = rate(at: t) ?? 0
        switch kind {
        case .frustration:
            return clip(a + 0.35 * negative - 0.35 * positive)
        case .urgency:
            // Fast speech alone is a speaker's habit as often as a hurry: it counts when the voice is raised too.
            let hurried = clip(rate / settings.rateScale) * clip(a / settings.arousalOff)
            return clip(0.65 * text.strength(.urgency, at: t, polarity: .notNegated) + 0.6 * hurried)
        case .hesitation:
            let fillers = Double(min(text.count(.filler, at: t, within: 8), 3))
            let pauses = Double(hesitantPauses.filter { $0 >= t - 10 && $0 <= t }.count)
            // Giving up is not hesitating: the same pauses with "forget it" are disengagement.
            return clip(0.25 * fillers + 0.6 * text.strength(.confusion, at: t) + 0.15 * min(pauses, 2)
                        + 0.15 * clip(-rate / settings.rateScale) - 0.3 * text.strength(.giveUp, at: t, polarity: .notNegated))
        case .disengagement:
            let drop = voiceReady ? clip(-(deviation?.energyDB ?? 0) / settings.energyDropScaleDB) : 0
            let longPause = (lastPauseSeconds ?? 0) >= 2 * settings.hesitantPauseSeconds ? 0.2 : 0
            return clip(0.6 * max(text.strength(.giveUp, at: t, polarity: .notNegated), 0.7 * text.strength(.closing, at: t))
                        + 0.35 * drop + longPause + 0.15 * clip(-rate / settings.rateScale) - 0.3 * max(a, 0))
        case .satisfaction:
            // Thanks and "that's perfect" say it; a merely positive word ("nice weather") only helps.
            let said = max(text.strength(.gratitude, at: t), text.strength(.satisfaction, at: t, polarity: .notNegated))
            return clip(0.75 * said + 0.25 * positive - 0.5 * negative - 0.5 * max(a - 0.6, 0))
        case .incongruence:
            // The words say fine, the voice does not: acceptance said with a tense, raised voice.
            let accept = text.strength(.acceptance, at: t, polarity: .notNegated)
            return clip(accept * clip(a / settings.arousalOff) - 0.5 * negative)
        case .deadAir, .talkOver, .slowResponse:
            return 0
        }
    }

    /// Valence of what is going on, −1…1: the words' polarity, and a high-arousal voice with no words leaning
    /// negative for frustration.
    func valence(for kind: EventKind, at t: Double) -> Double {
        let v = positiveWords(at: t) - negativeWords(at: t)
        switch kind {
        case .frustration, .incongruence, .disengagement: return min(max(v, -1), -0.2)
        case .satisfaction: return max(min(v, 1), 0.2)
        default: return min(max(v, -1), 1)
        }
    }

    /// Evidence for `kind`: the deviations that played a part and the words that counted.
    func evidence(for kind: EventKind, at t: Double) -> EventEvidence {
        var e = EventEvidence()
        let d = deviation
        switch kind {
        case .frustration, .incongruence:
            e.f0St = d?.f0ST; e.balanceDb = d?.balanceDB; e.energyDb = d?.energyDB; e.hnrDb = d?.hnrDB
            e.words = text.phrases(kind == .frustration ? [.negative, .complaint] : [.acceptance, .negative, .complaint], at: t)
        case .urgency:
            // Only a faster pace speaks for a hurry; a slower one is left out rather than reported against it.
            e.ratePct = rate(at: t).flatMap { $0 > 0 ? $0 * 100 : nil }; e.f0St = d?.f0ST
            e.words = text.phrases([.urgency], at: t)
        case .hesitation:
            e.ratePct = rate(at: t).map { $0 * 100 }; e.pauseS = lastPauseSeconds
            e.words = text.phrases([.filler, .confusion], at: t)
        case .disengagement:
            e.energyDb = d?.energyDB; e.pauseS = lastPauseSeconds; e.ratePct = rate(at: t).map { $0 * 100 }
            e.words = text.phrases([.giveUp, .closing], at: t)
        case .satisfaction:
            e.f0St = d?.f0ST
            e.words = text.phrases([.gratitude, .satisfaction, .positive], at: t)
        case .deadAir, .talkOver, .slowResponse:
            break
        }
        return e
    }

    /// Whether words that make `kind` likelier are present at `t` (they let its minimum time on run in a pause:
    /// a complaint often ends just as the caller stops speaking).
    func wordsSupport(_ kind: EventKind, at t: Double) -> Bool {
        kind == .frustration && negativeWords(at: t) > 0
    }

    /// Whether `kind` rests on the voice (its minimum time on counts speech only) rather than on words.
    static func isVoiceDriven(_ kind: EventKind) -> Bool { kind == .frustration }
}
