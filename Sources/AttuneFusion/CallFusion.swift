import AttuneDSP
import AttuneEvents
import AttuneText

/// What the emotion layer is asked to do for one call.
public struct FusionOptions: Sendable {
    /// Roles whose channels get emotion kinds. Customer only by default (design.md, Privacy): inferring
    /// employees' emotions at work is prohibited in the EU; agent channels get conversation events only.
    public var emotionRoles: Set<Role> = [.customer]
    /// False: the call publishes no events at all (and live, nothing but call_start/call_end).
    public var consent = true
    /// Language of explanations and suggestions, and the text layer's default when the text does not say.
    public var language: Language = .en
    public var settings = FusionSettings()
    public init() {}
}

/// The emotion layer of one call: takes the call's frames and segments (both channels, in time order, as the
/// session merges them) and its transcript, and produces `event` records with `start`, `update` and `end`.
///
/// Runs off the DSP path, on whatever thread builds the call's records (offline: the analysis thread; live: the
/// record thread). Offline and live it sees the same values in the same order, and it applies text by the
/// text's own times (an utterance counts once the audio has reached its end), so the same audio and the same
/// text give the same events however they were delivered. Text that arrives after the audio has passed it
/// still counts from then on and updates events that are open.
///
/// Nothing it learns outlives the object: baselines, words and readings die with the call.
public final class CallFusion {
    public let call: String
    public let options: FusionOptions
    public let refs: [ChannelRef]
    /// Everything the layer learns and tracks, in one stored property. Why: every access to a class's stored
    /// property is checked for exclusivity at run time (about 25 checks a frame when this state was the class's own
    /// properties), while a struct's mutating methods are checked at compile time; each call is now one check.
    /// The `emit` closures run inside that access, so they must not call back into the object. That one check is
    /// also left out (`@exclusivity(unchecked)`, about 120 instructions a frame): the object is used from one thread
    /// at a time (the record thread, or `analyze`'s loop), every access is one of the methods below, and no `emit`
    /// closure reaches the object (none is given it).
    @exclusivity(unchecked) private var state: FusionState

    /// Kinds that read a speaker's state, in the order they are evaluated.
    public static let emotionKinds: [EventKind] = [.frustration, .urgency, .hesitation, .disengagement, .satisfaction, .incongruence]
    /// Kinds whose strong events ask for a person (`needs_human`, README "Emotion events"), and from what intensity.
    static let askForPerson: Set<EventKind> = [.frustration, .disengagement, .incongruence]
    static let askForPersonIntensity = 0.7
    /// Frames between two readings of a channel's voice: 100 ms keeps the layer cheap and well inside the
    /// one-second latency budget.
    static let readEvery = 10

    public init(call: String, roles: [Role], channels: Int, hopSeconds: Double, text: TextAnalyzer?, options: FusionOptions = FusionOptions()) {
        self.call = call
        self.options = options
        refs = (0..<channels).map { ChannelRef(call: call, channel: $0, role: $0 < roles.count ? roles[$0] : .unknown) }
        state = FusionState(call: call, roles: roles, refs: refs, hopSeconds: hopSeconds, text: text, options: options)
    }

    /// Time of the newest frame seen.
    public var now: Double { state.now }

    /// Whether any channel gets emotion kinds (false: conversation events only, or no consent).
    public var hasEmotionChannels: Bool { state.hasEmotionChannels }

    /// Adds transcript text (a file's utterance, an `asr` message, a recogniser's result).
    public func add(_ utterance: TranscriptUtterance) { state.add(utterance) }

    /// Takes one decided frame of `channel`.
    public func observe(frame f: FrameFeatures, channel c: Int, emit: (EventRecord) -> Void) {
        state.observe(frame: f, channel: c, emit: emit)
    }

    /// Takes one closed segment of `channel`.
    public func observe(segment s: SegmentStats, channel c: Int) { state.observe(segment: s, channel: c) }

    /// Ends the call at `t`: every open event ends.
    public func finish(at t: Double, emit: (EventRecord) -> Void) { state.finish(at: t, emit: emit) }
}

/// The state and logic of ``CallFusion``, a value so that a frame's work runs inside one mutating call.
struct FusionState {
    let call: String
    let options: FusionOptions
    let refs: [ChannelRef]
    private let hop: Double
    private let text: TextAnalyzer?
    /// The emotion state of the channels that have one, and each channel's index into it (nil: conversation events
    /// only). Not an array of optionals: reading through `!` copied the whole value, arrays and all, for every call.
    private var emotions: [ChannelEmotion] = []
    private let emotionSlot: [Int?]
    private var trackers: [[EventTracker]]
    private var eventIDs: [[String?]]
    private var conversation: ConversationMonitor
    private var conversationIDs: [EventKind: String] = [:]
    private var speechNow: [Bool]
    private var spokeSinceStep: [Bool]
    private var news: [Bool]
    /// Utterances waiting for the audio to reach their end, in arrival order.
    private var pending: [TranscriptUtterance] = []
    private var nextID = 1
    /// Time of the newest frame seen.
    private(set) var now = 0.0

    init(call: String, roles: [Role], refs: [ChannelRef], hopSeconds: Double, text: TextAnalyzer?, options: FusionOptions) {
        self.call = call
        self.options = options
        self.refs = refs
        hop = hopSeconds
        self.text = text
        let s = options.settings
        let channels = refs.count
        var slots: [Int?] = []
        for ref in refs {
            if options.consent && options.emotionRoles.contains(ref.role) {
                slots.append(emotions.count)
                emotions.append(ChannelEmotion(settings: s, hopSeconds: hopSeconds))
            } else {
                slots.append(nil)
            }
        }
        emotionSlot = slots
        trackers = refs.map { _ in
            CallFusion.emotionKinds.map { kind in
                var tracker = switch kind {
                case .frustration: EventTracker(kind: kind, settings: s)
                // Word-driven kinds start as soon as the words are there and hold while they count.
                default: EventTracker(kind: kind, settings: s, on: s.cueOn, off: s.cueOff, minimumOn: 0, hold: 1.0)
                }
                if CallFusion.askForPerson.contains(kind) { tracker.alertLevel = CallFusion.askForPersonIntensity }
                return tracker
            }
        }
        eventIDs = refs.map { _ in CallFusion.emotionKinds.map { _ in nil } }
        conversation = ConversationMonitor(settings: s, roles: roles, channels: channels)
        speechNow = Array(repeating: false, count: channels)
        spokeSinceStep = speechNow
        news = speechNow
    }

    var hasEmotionChannels: Bool { !emotions.isEmpty }

    /// Adds transcript text (a file's utterance, an `asr` message, a recogniser's result).
    mutating func add(_ utterance: TranscriptUtterance) {
        guard options.consent, utterance.channel >= 0, utterance.channel < refs.count, emotionSlot[utterance.channel] != nil else { return }
        pending.append(utterance)
    }

    /// Takes one decided frame of `channel`.
    mutating func observe(frame f: FrameFeatures, channel c: Int, emit: (EventRecord) -> Void) {
        guard options.consent else { return }
        let t = Double(f.index) * hop
        now = max(now, t)
        applyText()
        if let e = emotionSlot[c] {
            let sample = VoiceSample(t: t, f0Hz: Double(f.f0), energyDB: Double(f.energyDB),
                                     balanceDB: f.balanceDB.map(Double.init) ?? .nan, hnrDB: f.hnrDB.map(Double.init) ?? .nan,
                                     speech: f.speech)
            let flagged = trackers[c][0].isActive || (emotions[e].arousal >= options.settings.arousalOff)
            emotions[e].observe(sample, flagged: flagged)
            if f.speech { spokeSinceStep[c] = true }
            if f.index % CallFusion.readEvery == 0 { stepEmotions(channel: c, e, t: t, emit: emit) }
        }
        speechNow[c] = f.speech
        if f.speech {
            for other in emotionSlot.indices where other != c {
                if let e = emotionSlot[other] { emotions[e].otherSideSpoke(at: t) }
            }
        }
        if c == refs.count - 1 {
            conversation.step(t: t, speech: speechNow, hop: hop).forEach { emitConversation($0, t: t, emit: emit) }
        }
    }

    /// Takes one closed segment of `channel`.
    mutating func observe(segment s: SegmentStats, channel c: Int) {
        guard options.consent, let e = emotionSlot[c] else { return }
        emotions[e].observe(segment: s)
    }

    /// Ends the call at `t`: every open event ends.
    mutating func finish(at t: Double, emit: (EventRecord) -> Void) {
        guard options.consent else { return }
        applyText()
        for c in refs.indices where emotionSlot[c] != nil {
            for k in trackers[c].indices {
                if case .end(let at)? = trackers[c][k].close(at: t) { emitEmotion(c, k, .end, t: t, end: at, emit: emit) }
            }
        }
        for change in conversation.closeAll(at: t) { emitConversation(change, t: t, emit: emit) }
    }

    /// Reads the text that arrived into its channel's memory; each cue counts from its own end time on.
    private mutating func applyText() {
        guard !pending.isEmpty else { return }
        for u in pending {
            // The text says which language it is when it can (a Vietnamese caller may answer in English); toneless text
            // cannot, and falls back to the call's language.
            guard let reading = text?.read(u, language: Language.detect(u.text) ?? options.language) else { continue }
            if let e = emotionSlot[u.channel] { emotions[e].take(reading, utterance: u) }
            // Text for words already heard (it came late) is news for open events now.
            if reading.cues.contains(where: { $0.end <= now }) { news[u.channel] = true }
        }
        pending.removeAll()
    }

    private mutating func stepEmotions(channel c: Int, _ e: Int, t: Double, emit: (EventRecord) -> Void) {
        emotions[e].read()
        emotions[e].forget(before: t)
        let dt = hop * Double(CallFusion.readEvery)
        let spoke = spokeSinceStep[c]
        spokeSinceStep[c] = false
        let hasNews = news[c] || emotions[e].text.became(after: t - dt, upTo: t)
        news[c] = false
        // Every kind scored before any tracker steps: nothing a step or an event changes is read by a score.
        withUnsafeTemporaryAllocation(of: ChannelEmotion.Scored.self, capacity: CallFusion.emotionKinds.count) { scored in
            emotions[e].score(CallFusion.emotionKinds, at: t, spoke: spoke, into: scored)
            for k in trackers[c].indices {
                switch trackers[c][k].step(t: t, score: scored[k].score, dt: dt, counting: scored[k].counting, news: hasNews) {
                case .start?: emitEmotion(c, k, .start, t: t, end: nil, emit: emit)
                case .update?: emitEmotion(c, k, .update, t: t, end: nil, emit: emit)
                case .end(let at)?: emitEmotion(c, k, .end, t: t, end: at, emit: emit)
                case nil: break
                }
            }
        }
    }

    private mutating func newID() -> String {
        defer { nextID += 1 }
        return "\(call)-\(nextID)"
    }

    private mutating func emitEmotion(_ c: Int, _ k: Int, _ state: EventState, t: Double, end: Double?, emit: (EventRecord) -> Void) {
        let e = emotionSlot[c]!
        let tracker = trackers[c][k]
        let kind = tracker.kind
        if state == .start { eventIDs[c][k] = newID() }
        guard let id = eventIDs[c][k] else { return }
        if state == .end { eventIDs[c][k] = nil }
        let evidence = emotions[e].evidence(for: kind, at: min(t, end ?? t))
        let voiced = ChannelEmotion.isVoiceDriven(kind) || kind == .incongruence
        let words = !evidence.words.isEmpty
        var confidence: Double = switch kind {
        case .frustration: words ? 0.85 : 0.6
        case .urgency: words ? 0.8 : 0.6
        case .incongruence: 0.6
        default: 0.7
        }
        if voiced { confidence *= 0.5 + 0.5 * emotions[e].baseline.maturity }
        let intensity = min(max(tracker.peak, 0), 1)
        let needsHuman = tracker.needsHuman
        emit(EventRecord(id: id, refs[c], kind: kind, state: state, t: t, start: tracker.start, end: end,
                         confidence: confidence, intensity: intensity, arousal: emotions[e].arousal,
                         valence: emotions[e].valence(for: kind, at: t), evidence: evidence,
                         explanation: EventWording.explanation(kind, evidence, options.language),
                         suggestion: EventWording.suggestion(kind, options.language), needsHuman: needsHuman))
    }

    private mutating func emitConversation(_ change: ConversationMonitor.Change, t: Double, emit: (EventRecord) -> Void) {
        let (open, state, end, pause): (ConversationMonitor.Open, EventState, Double?, Double) = switch change {
        case .start(let o, let p): (o, .start, nil, p)
        case .end(let o, let at, let p): (o, .end, at, p)
        }
        if state == .start { conversationIDs[open.kind] = newID() }
        guard let id = conversationIDs[open.kind] else { return }
        if state == .end { conversationIDs[open.kind] = nil }
        let evidence = EventEvidence(pauseS: pause)
        emit(EventRecord(id: id, refs[open.channel], kind: open.kind, state: state, t: t, start: open.start, end: end,
                         confidence: 0.95, intensity: min(1, pause / (2 * threshold(open.kind))), arousal: 0, valence: 0,
                         evidence: evidence, explanation: EventWording.explanation(open.kind, evidence, options.language),
                         suggestion: EventWording.suggestion(open.kind, options.language), needsHuman: false))
    }

    private func threshold(_ kind: EventKind) -> Double {
        switch kind {
        case .deadAir: options.settings.deadAirSeconds
        case .slowResponse: options.settings.slowResponseSeconds
        default: options.settings.talkOverSeconds
        }
    }
}
