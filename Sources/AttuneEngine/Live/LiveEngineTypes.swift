import AttuneAudio
import AttuneDSP
import AttuneEvents
import AttuneFusion
import AttuneRecognizer
import AttuneText
import CALSA
import Foundation
import Synchronization

/// A `start` command's content.
public struct LiveCallRequest: Sendable, Equatable {
    public var call: String
    /// A source URI (`alsa:…`, `file:…`, `stdin:…`).
    public var source: String
    /// Roles by channel; overrides the URI's `roles`.
    public var roles: [Role]?
    /// `false`: publish nothing but `call_start`/`call_end` (design.md, Privacy).
    public var consent: Bool
    /// Language of event explanations and of text that does not say (`en`, `vi`).
    public var language: Language
    /// The built-in recogniser for the call's customer channels (``recognisedChannels(roles:channels:)``); the emotion
    /// layer reads its utterances like `asr` messages, segments do not carry them. Nil: text comes only from `asr`
    /// messages.
    public var asr: SpeechRecognizerConfiguration?

    public init(call: String, source: String, roles: [Role]? = nil, consent: Bool = true, language: Language = .en,
                asr: SpeechRecognizerConfiguration? = nil) {
        self.call = call; self.source = source; self.roles = roles; self.consent = consent; self.language = language
        self.asr = asr
    }
}

/// Why the engine refused a request: a message for the `{"ok": false, "error": …}` reply and a sysexits code
/// for the command line.
public struct LiveEngineError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var exitCode: Int32
    public init(_ message: String, exitCode: Int32) { self.message = message; self.exitCode = exitCode }
    public var description: String { message }
}

/// A running call, as `list` reports it.
public struct LiveCallInfo: Sendable, Equatable {
    public var call: String
    public var source: String
    public var roles: [Role]
    public var sampleRate: Int
    public var channels: Int
    public var worker: Int
    public var uptimeSeconds: Double
    /// Seconds of audio analysed so far (gaps included).
    public var analysedSeconds: Double
    /// Seconds of audio captured but not yet analysed: the worker's lag.
    public var lagSeconds: Double
    /// Input frames dropped before analysis (rings full).
    public var droppedFrames: Int
    public var xruns: Int
    public var consent: Bool
    /// Utterances the built-in recogniser has delivered, and samples it lost to a full ring (0 without `asr`).
    public var asrUtterances = 0
    public var asrLostSamples = 0
}

/// Totals across the engine, as `stats` and the metrics report them.
public struct LiveEngineStats: Sendable, Equatable {
    public var callsActive: Int
    public var callsStarted: Int
    public var callsEnded: Int
    public var framesAnalysed: Int
    public var droppedFrames: Int
    public var xruns: Int
    public var recordsPublished: Int
    public var workers: Int
}

/// Settings of the live engine.
public struct LiveEngineConfiguration: Sendable {
    /// DSP worker threads.
    public var workers: Int
    /// Audio each call's rings hold before the capture side must drop: how far a worker may fall behind.
    public var ringSeconds: Double = 2
    /// Calls at once; one more is refused.
    public var maximumCalls: Int = 4096
    public var capture = CaptureOptions()
    /// Roles whose channels get emotion kinds (design.md, Privacy: customer only unless an operator says otherwise).
    public var emotionRoles: Set<Role> = [.customer]
    /// The lexicons calls read text with; nil: events from the voice and timing only.
    public var textAnalyzer: TextAnalyzer?
    /// The emotion layer's settings for every call.
    public var fusionSettings = FusionSettings()

    public init(workers: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) { self.workers = workers }
}

/// Why `given` roles cannot label a source of `channels` channels named `source`, or nil when they can: one role per
/// channel, as a URI's `roles=` must be. Padding fewer with `unknown` left a customer channel without emotion events
/// and said nothing; a channel to leave out is named `unknown`.
public func roleCountProblem(given: Int, channels: Int, source: String) -> String? {
    guard given != channels else { return nil }
    return "\(given) role\(given == 1 ? "" : "s") given but \(source) has \(channels) channel\(channels == 1 ? "" : "s"); "
        + "name one role per channel (unknown for one to leave out)"
}
