import Foundation

/// Every number the emotion layer decides with, in one place, each with its reason. None of them was fitted to a
/// corpus's test utterances: the scales are deviations that the speech-emotion literature reports as large for
/// one speaker (Banse & Scherer 1996; Juslin & Laukka 2003: hot anger raises mean F0 by several semitones and
/// shifts energy above 1 kHz by several dB), and `Tools/emotion_eval.py` reports how they do on acted speech.
public struct FusionSettings: Sendable, Equatable {
    /// Seconds of speech before the baseline is *provisional*: emotion events may start, with confidence scaled
    /// down by how much of ``baselineReadySpeechSeconds`` has been heard. Before this, they are withheld.
    public var baselineProvisionalSpeechSeconds = 4.0
    /// Seconds of speech after which the baseline is *ready* (full confidence) and starts adapting slowly.
    public var baselineReadySpeechSeconds = 15.0
    /// Once ready, the baseline forgets with this time constant, in seconds of speech: slow enough that one
    /// heated minute does not become the caller's normal.
    public var baselineMemorySpeechSeconds = 180.0

    /// The window a caller's current voice is read over: the last this-many seconds of their speech frames
    /// (pauses skipped). Its median turns after half of it, which bounds how soon an event can start; 0.7 s lets
    /// frustration start within 1.5 s of an escalation (Tools/scripted_calls.py) while keeping neutral speech on the
    /// FIT speakers of Tools/emotion_eval.py under one false event an hour (1.0 s: 0; 0.6 s: 0.85 an hour).
    public var windowSpeechSeconds = 0.7
    /// Voiced share of the window below which F0 is not read (whispered, clipped or very short speech). A window
    /// without F0 judges arousal on spectral balance alone, which a telephone line and noise move more than F0: at
    /// 0.35, a quarter of the voiced frames lost to 10 dB of noise left such windows deciding, and one neutral FIT
    /// speaker's sharper sentence started `frustration` in nearly every telephone call. 0.25 was chosen on the FIT
    /// speakers of `Tools/emotion_eval.py` in three conditions at once (clean, `--condition tel`, `telnoise`):
    /// no false event an hour in any, with the best mean UAR.
    public var minimumVoicedShare = 0.25

    /// F0 deviation (semitones above the caller's median) that counts as fully aroused.
    public var f0ScaleST = 6.0
    /// Spectral-balance deviation (dB more energy above 1 kHz than the caller's median) that counts as fully aroused.
    public var balanceScaleDB = 6.0
    /// Articulation-rate deviation (fraction above the caller's median) that counts as fully hurried. 0.50, chosen
    /// with ``minimumVoicedShare`` in the same search: at 0.40 (and 0.45) one FIT speaker's third neutral sentence,
    /// counted on a telephone line against a baseline of two, started `urgency` in nearly every call.
    public var rateScale = 0.50

    /// Arousal (−1…1) at or above which `frustration` may start: the mean of the F0 and balance deviations over
    /// their scales, so 0.6 is about 3.6 semitones and 3.6 dB above the caller's normal together. Chosen by
    /// `Tools/emotion_eval.py --tune` on the FIT speakers (EmoDB 03 08 09 10 11) only: at most one false event an hour
    /// in their neutral speech, then the best recall, then the lowest value; the figures quoted are those of the
    /// other five speakers.
    public var arousalOn = 0.6
    /// …and below which it ends (hysteresis: the gap keeps a heated sentence's dips from flickering).
    public var arousalOff = 0.45
    /// Score (0…1) at or above which the kinds that rest on words and timing (urgency, hesitation, disengagement,
    /// satisfaction, incongruence) start, and below which they end: a strong cue alone, or a weaker one the
    /// voice agrees with.
    public var cueOn = 0.45
    public var cueOff = 0.25
    /// Seconds of speech the arousal must stay above ``arousalOn`` before an event starts.
    public var minimumOnSeconds = 0.30
    /// Seconds below ``arousalOff`` (speech or not) before an event ends.
    public var holdSeconds = 2.0
    /// Seconds after an event of a kind ends before the same kind may start again on the channel.
    public var cooldownSeconds = 5.0
    /// Minimum seconds between `update` records of one event (text arriving, intensity rising).
    public var updateIntervalSeconds = 1.0

    /// Nobody has spoken for this long: `dead_air`.
    public var deadAirSeconds = 6.0
    /// The agent has not answered the customer for this long after the customer stopped: `slow_response`.
    public var slowResponseSeconds = 3.0
    /// Both sides have spoken at once for this long (within a turn): `talk_over`.
    public var talkOverSeconds = 1.0

    /// Level drop (dB below the caller's median) that counts as fully withdrawn, for `disengagement`.
    public var energyDropScaleDB = 10.0
    /// A pause within the caller's own turn this long counts as hesitant.
    public var hesitantPauseSeconds = 1.2

    public init() {}
}

extension FusionSettings {
    /// Settings with some values replaced from `name=value` pairs separated by commas (e.g.
    /// `arousalOn=0.5,f0ScaleST=5`), for the evaluation tools (`ATTUNE_FUSION_SETTINGS`); nil names what was wrong.
    public func overridden(by spec: String) -> Result<FusionSettings, FusionSettingsError> {
        var s = self
        let table: [String: WritableKeyPath<FusionSettings, Double>] = [
            "baselineProvisionalSpeechSeconds": \.baselineProvisionalSpeechSeconds,
            "baselineReadySpeechSeconds": \.baselineReadySpeechSeconds,
            "baselineMemorySpeechSeconds": \.baselineMemorySpeechSeconds,
            "windowSpeechSeconds": \.windowSpeechSeconds, "minimumVoicedShare": \.minimumVoicedShare,
            "f0ScaleST": \.f0ScaleST, "balanceScaleDB": \.balanceScaleDB, "rateScale": \.rateScale,
            "arousalOn": \.arousalOn, "arousalOff": \.arousalOff, "cueOn": \.cueOn, "cueOff": \.cueOff, "minimumOnSeconds": \.minimumOnSeconds,
            "holdSeconds": \.holdSeconds, "cooldownSeconds": \.cooldownSeconds,
            "deadAirSeconds": \.deadAirSeconds, "slowResponseSeconds": \.slowResponseSeconds,
            "talkOverSeconds": \.talkOverSeconds,
        ]
        for pair in spec.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let key = table[parts[0]], let value = Double(parts[1]), value.isFinite else {
                return .failure(FusionSettingsError(description: "'\(pair)' is not NAME=NUMBER with NAME one of \(table.keys.sorted().joined(separator: ", "))"))
            }
            s[keyPath: key] = value
        }
        return .success(s)
    }
}

public struct FusionSettingsError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
