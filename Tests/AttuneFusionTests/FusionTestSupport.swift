import Foundation
import AttuneDSP
import AttuneEvents
import AttuneFusion
import AttuneText

/// A synthetic speaker for the fusion tests: frames with a chosen F0, spectral balance and speech decision,
/// fed through a ``CallFusion`` in the order a session merges them.
struct SyntheticCall {
    let fusion: CallFusion
    let channels: Int
    private(set) var index = 0
    private(set) var events: [EventRecord] = []
    static let hop = 0.01

    init(roles: [Role], text: TextAnalyzer? = nil, options: FusionOptions = FusionOptions()) {
        channels = roles.count
        fusion = CallFusion(call: "t", roles: roles, channels: roles.count, hopSeconds: Self.hop, text: text, options: options)
    }

    /// One frame per channel: `voice[c]` nil is silence, else (F0 Hz, balance dB). A slow 1.5 st wobble keeps the
    /// pitch alive like speech's intonation. `voiced` false is a speech frame without F0 (a consonant, or a vowel
    /// noise hid from the pitch tracker).
    static func frame(_ index: Int, _ voice: (f0: Double, balance: Double)?, voiced: Bool = true) -> FrameFeatures {
        guard let v = voice else { return FrameFeatures(index: index, energyDB: -70, bandsDB: SIMD8(repeating: -80)) }
        let wobble = 1.5 * sin(Double(index) * 0.05)
        let f0 = voiced ? v.f0 * pow(2, wobble / 12) : 0
        return FrameFeatures(index: index, f0: Float(f0), voicing: voiced ? 0.9 : 0.2, energyDB: -25, bandsDB: SIMD8(repeating: -30),
                             speech: true, balanceDB: Float(v.balance), hnrDB: voiced ? 15 : nil)
    }

    /// Runs `seconds` with each channel's voice (nil: silent); `voicedShare` of the speech frames carry F0, spread
    /// evenly (3 in every 10 at 0.3).
    mutating func run(seconds: Double, _ voices: [(f0: Double, balance: Double)?], voicedShare: Double = 1) {
        let n = Int((seconds / Self.hop).rounded())
        for _ in 0..<n {
            let voiced = Double(index % 10) < voicedShare * 10
            for c in 0..<channels {
                let f = Self.frame(index, voices[c], voiced: voiced)
                fusion.observe(frame: f, channel: c) { events.append($0) }
            }
            index += 1
        }
    }

    mutating func finish() {
        fusion.finish(at: Double(index) * Self.hop) { events.append($0) }
    }

    var now: Double { Double(index) * Self.hop }

    func starts(_ kind: EventKind) -> [EventRecord] { events.filter { $0.kind == kind && $0.state == .start } }
}
