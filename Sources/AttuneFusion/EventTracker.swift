import AttuneEvents

/// The life of one kind of event on one channel: a score (0…1) goes in every few frames, `start`, `update` and `end`
/// come out, with hysteresis, a minimum time on, a hold before ending and a cooldown, so events never flicker.
public struct EventTracker: Sendable {
    public let kind: EventKind
    public let on: Double
    public let off: Double
    public let minimumOn: Double
    public let hold: Double
    public let cooldown: Double
    public let updateInterval: Double
    /// Intensity (the peak score) from which the open event asks for a person (`needs_human`), or nil for a kind
    /// that never does. The peak crossing it is an update at once, whatever the update interval: a desktop that
    /// alerts on `needs_human` must hear it while the event is open, not first on its end.
    public var alertLevel: Double?

    enum Phase: Sendable, Equatable {
        case idle
        /// Above `on` since `since`, for `accumulated` seconds that count.
        case arming(since: Double, accumulated: Double)
        case active
        case cooling(until: Double)
    }
    private(set) var phase: Phase = .idle
    /// Start of the open event.
    public private(set) var start = 0.0
    /// Highest score of the open event.
    public private(set) var peak = 0.0
    /// Whether the open event, as last published, asks for a person (see `alertLevel`).
    public var needsHuman: Bool { alertLevel.map { peak >= $0 } ?? false }
    private var belowSince: Double?
    private var lastUpdate = 0.0
    private var lastPublishedPeak = 0.0

    public init(kind: EventKind, on: Double, off: Double, minimumOn: Double, hold: Double, cooldown: Double, updateInterval: Double) {
        self.kind = kind; self.on = on; self.off = off; self.minimumOn = minimumOn; self.hold = hold
        self.cooldown = cooldown; self.updateInterval = updateInterval
    }

    public init(kind: EventKind, settings s: FusionSettings, on: Double? = nil, off: Double? = nil, minimumOn: Double? = nil,
                hold: Double? = nil) {
        self.init(kind: kind, on: on ?? s.arousalOn, off: off ?? s.arousalOff, minimumOn: minimumOn ?? s.minimumOnSeconds,
                  hold: hold ?? s.holdSeconds, cooldown: s.cooldownSeconds, updateInterval: s.updateIntervalSeconds)
    }

    public enum Transition: Sendable, Equatable {
        case start(at: Double)
        case update
        case end(at: Double)
    }

    public var isActive: Bool { phase == .active }

    /// Advances to time `t` with `score`; `dt` seconds have passed since the last step and count towards the
    /// minimum time on only when `counting` (speech frames for voice-driven kinds). `news` asks for an update
    /// of an open event (new words), still no more often than the update interval.
    public mutating func step(t: Double, score: Double, dt: Double, counting: Bool = true, news: Bool = false) -> Transition? {
        switch phase {
        case .cooling(let until):
            guard t >= until else { return nil }
            phase = .idle
            return step(t: t, score: score, dt: dt, counting: counting, news: news)
        case .idle:
            guard score >= on else { return nil }
            phase = .arming(since: t - (counting ? dt : 0), accumulated: counting ? dt : 0)
            return promoteIfArmed(t: t, score: score, confirmed: news)
        case .arming(let since, let accumulated):
            if score < off { phase = .idle; return nil }
            phase = .arming(since: since, accumulated: accumulated + (counting && score >= on ? dt : 0))
            return promoteIfArmed(t: t, score: score, confirmed: news)
        case .active:
            if score < off {
                let since = belowSince ?? t
                belowSince = since
                if t - since >= hold {
                    phase = .cooling(until: t + cooldown)
                    belowSince = nil
                    return .end(at: since)
                }
                return nil
            }
            belowSince = nil
            peak = max(peak, score)
            if let alert = alertLevel, peak >= alert, lastPublishedPeak < alert {
                lastUpdate = t
                lastPublishedPeak = peak
                return .update
            }
            if (news || peak >= lastPublishedPeak + 0.15) && t - lastUpdate >= updateInterval {
                lastUpdate = t
                lastPublishedPeak = peak
                return .update
            }
            return nil
        }
    }

    /// Starts the event once the score has held long enough, or at once when news (words just said) confirms it:
    /// the minimum time on guards against a voice's momentary swings, which words do not have.
    private mutating func promoteIfArmed(t: Double, score: Double, confirmed: Bool) -> Transition? {
        guard case .arming(let since, let accumulated) = phase, accumulated >= minimumOn - 1e-9 || confirmed else { return nil }
        phase = .active
        start = since
        peak = score
        lastPublishedPeak = score
        lastUpdate = t
        belowSince = nil
        return .start(at: since)
    }

    /// Ends an open event at `t` (the call is over).
    public mutating func close(at t: Double) -> Transition? {
        guard phase == .active else { phase = .idle; return nil }
        phase = .idle
        return .end(at: belowSince ?? t)
    }
}
