import AttuneEvents

/// The conversation events, read from when each side speaks: `dead_air` (nobody speaks), `slow_response` (the
/// customer waits for the agent) and `talk_over` (both speak at once). Timing only, no inference about anyone's
/// state, so these run on agent channels too.
struct ConversationMonitor: Sendable {
    let settings: FusionSettings
    /// The first agent's and customer's channels (among the call's channels), found once: every hop asks.
    private let agent: Int?
    private let customer: Int?
    private var lastSpeech: [Double]
    private var speaking: [Bool]
    private var speechStart: [Double]
    /// Who spoke last, and when they stopped.
    private var lastSpeaker: Int?
    private var anySpeechYet = false
    private var overlapSince: Double?
    private var overlapEndedAt: Double?

    /// An open conversation event: its kind, channel, start, and the tracker-free state it needs.
    struct Open: Sendable, Equatable {
        var kind: EventKind
        var channel: Int
        var start: Double
    }
    private(set) var open: [Open] = []

    enum Change: Sendable, Equatable {
        case start(Open, pause: Double)
        case end(Open, at: Double, pause: Double)
    }

    init(settings: FusionSettings, roles: [Role], channels: Int) {
        self.settings = settings
        let roles = roles.prefix(channels)
        agent = roles.firstIndex(of: .agent)
        customer = roles.firstIndex(of: .customer)
        lastSpeech = Array(repeating: -.infinity, count: channels)
        speaking = Array(repeating: false, count: channels)
        speechStart = Array(repeating: 0, count: channels)
    }

    /// What one hop changed, in order: at most one change per kind, three at the most. A value and not an array:
    /// this runs for every hop of every call and almost never changes anything, and even an empty array of
    /// changes allocated.
    struct Changes: Sendable {
        private var first: Change?
        private var second: Change?
        private var third: Change?

        fileprivate mutating func append(_ change: Change) {
            if first == nil { first = change } else if second == nil { second = change } else {
                precondition(third == nil, "ConversationMonitor: more than three changes in a hop")
                third = change
            }
        }

        func forEach(_ body: (Change) -> Void) {
            if let first { body(first) }
            if let second { body(second) }
            if let third { body(third) }
        }
    }

    /// Steps one hop with every channel's speech decision at `t`.
    mutating func step(t: Double, speech: [Bool], hop: Double) -> Changes {
        var changes = Changes()
        // Index loops rather than contains() and max(): those run the standard library's generic iteration, which
        // unspecialised (a debug build) allocates on every call, and this runs for every hop of every call.
        var anyone = false
        var silentSince = -Double.infinity
        for c in speech.indices {
            if speech[c] {
                if !speaking[c] { speechStart[c] = t }
                lastSpeech[c] = t
                anySpeechYet = true
                anyone = true
            } else if speaking[c] {
                lastSpeaker = c
            }
            speaking[c] = speech[c]
            if lastSpeech[c] > silentSince { silentSince = lastSpeech[c] }
        }

        // dead_air: on the agent's channel (whose silence it is), or channel 0 when no one is the agent.
        let deadChannel = agent ?? 0
        if anyone {
            if let change = close(.deadAir, at: t, pause: t - silentSince) { changes.append(change) }
        } else if anySpeechYet, t - silentSince >= settings.deadAirSeconds, !isOpen(.deadAir) {
            let e = Open(kind: .deadAir, channel: deadChannel, start: silentSince + hop)
            open.append(e)
            changes.append(.start(e, pause: t - silentSince))
        }

        // slow_response: the customer stopped, the agent has not started.
        if let agent, let customer {
            if anyone {
                if let change = close(.slowResponse, at: t, pause: t - lastSpeech[customer]) { changes.append(change) }
            } else if lastSpeaker == customer, !speaking[customer], t - lastSpeech[customer] >= settings.slowResponseSeconds,
                      lastSpeech[agent] < lastSpeech[customer], !isOpen(.slowResponse) {
                let e = Open(kind: .slowResponse, channel: agent, start: lastSpeech[customer] + hop)
                open.append(e)
                changes.append(.start(e, pause: t - lastSpeech[customer]))
            }
        }

        // talk_over: on the channel of whoever started last (the one who cut in).
        if speech.count >= 2 {
            // Counted in place: this runs for every hop of every call.
            var talking = 0
            var cutIn = 0
            for c in speech.indices where speech[c] {
                if talking == 0 || speechStart[c] > speechStart[cutIn] { cutIn = c }
                talking += 1
            }
            if talking >= 2 {
                if overlapSince == nil { overlapSince = t }
                overlapEndedAt = nil
                if let since = overlapSince, t - since + hop >= settings.talkOverSeconds, !isOpen(.talkOver) {
                    let e = Open(kind: .talkOver, channel: cutIn, start: since)
                    open.append(e)
                    changes.append(.start(e, pause: t - since + hop))
                }
            } else if let since = overlapSince {
                // Short breaths inside an overlap do not end it.
                let ended = overlapEndedAt ?? t
                overlapEndedAt = ended
                if t - ended >= 0.5 {
                    if let change = close(.talkOver, at: ended, pause: ended - since) { changes.append(change) }
                    overlapSince = nil
                    overlapEndedAt = nil
                }
            }
        }
        return changes
    }

    private func isOpen(_ kind: EventKind) -> Bool { openIndex(kind) != nil }

    private func openIndex(_ kind: EventKind) -> Int? {
        for i in open.indices where open[i].kind == kind { return i }
        return nil
    }

    private mutating func close(_ kind: EventKind, at t: Double, pause: Double) -> Change? {
        guard let i = openIndex(kind) else { return nil }
        let e = open.remove(at: i)
        return .end(e, at: t, pause: max(pause, t - e.start))
    }

    /// Ends whatever is open (the call is over).
    mutating func closeAll(at t: Double) -> [Change] {
        let all = open
        open.removeAll()
        return all.map { .end($0, at: t, pause: t - $0.start) }
    }
}
