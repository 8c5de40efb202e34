import AttuneText

/// The cue words a caller said recently, with when they said them, read as how strongly each category of cue is
/// present *now*: a cue counts fully for ``fullSeconds`` after it was said and fades out over ``fadeSeconds``.
///
/// A cue counts from the moment its last word has been said (its `end`), whenever its text arrived: a transcript
/// known in advance (offline) adds nothing before the words are heard, and late text (a recogniser's final result
/// seconds after the words) counts at once, for as long as it still would have. A partial result is replaced by what
/// revises it.
struct TextMemory: Sendable {
    static let fullSeconds = 4.0
    static let fadeSeconds = 6.0
    /// Cues older than this are dropped.
    static let horizonSeconds = fullSeconds + fadeSeconds

    struct Held: Sendable {
        var cue: TextCue
        /// Start of the utterance the cue came from, so a revised (final) utterance replaces a partial one.
        var utteranceStart: Double
        var final: Bool
    }
    private(set) var held: [Held] = []
    private(set) var valence = 0.0

    /// Takes an utterance's cues, replacing those of a partial result it revises (same channel, overlapping).
    mutating func take(_ reading: TextReading, utterance: TranscriptUtterance) {
        held.removeAll { !$0.final && $0.utteranceStart < utterance.end && $0.cue.end > utterance.start - 0.5 }
        for cue in reading.cues { held.append(Held(cue: cue, utteranceStart: utterance.start, final: utterance.final)) }
        if !reading.cues.isEmpty { valence = reading.valence }
    }

    /// Whether a cue became effective (its end passed) in (`after`, `t`]: news for open events.
    func became(after: Double, upTo t: Double) -> Bool {
        held.contains { $0.cue.end > after && $0.cue.end <= t }
    }

    mutating func forget(before t: Double) {
        held.removeAll { $0.cue.end < t - Self.horizonSeconds }
    }

    /// How present cues of `category` are at `t`, 0…1 (the strongest one, by its intensity and age). Cues not yet
    /// said by `t` (the text is ahead of the audio) do not count yet.
    func strength(_ category: CueCategory, at t: Double, polarity: PolarityFilter = .any) -> Double {
        var best = 0.0
        for h in held where h.cue.category == category && h.cue.end <= t {
            switch polarity {
            case .any: break
            case .negative: if h.cue.polarity >= 0 { continue }
            case .positive: if h.cue.polarity <= 0 { continue }
            case .notNegated: if h.cue.negated { continue }
            }
            let age = max(0, t - h.cue.end)
            let fade = age <= Self.fullSeconds ? 1 : max(0, 1 - (age - Self.fullSeconds) / Self.fadeSeconds)
            best = max(best, (0.5 + 0.5 * h.cue.intensity) * fade)
        }
        return best
    }

    /// How many cues of `category` were said in the last `seconds` before `t`.
    func count(_ category: CueCategory, at t: Double, within seconds: Double) -> Int {
        held.reduce(0) { $0 + ($1.cue.category == category && $1.cue.end <= t && $1.cue.end >= t - seconds ? 1 : 0) }
    }

    enum PolarityFilter { case any, negative, positive, notNegated }

    /// The phrases of `categories` still counting at `t`, oldest first, each once.
    func phrases(_ categories: Set<CueCategory>, at t: Double) -> [String] {
        var out: [String] = []
        for h in held where categories.contains(h.cue.category) && h.cue.end <= t && t - h.cue.end <= Self.horizonSeconds {
            if !out.contains(h.cue.phrase) { out.append(h.cue.phrase) }
        }
        return out
    }
}
