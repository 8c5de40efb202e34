@testable import AttuneDSP
import Foundation
import Testing

/// The two voice-quality features of a frame: spectral balance (``LevelMeter/balance(_:)``) and the
/// harmonics-to-noise ratio (``PitchTracker/harmonicsToNoise(_:)``), on signals whose answer is known.
@Suite("Voice quality: spectral balance and HNR")
struct VoiceQualityTests {
    // MARK: - Spectral balance

    /// A steady harmonic complex, F0 200 Hz (the 30 ms window holds six whole periods, so the harmonics'
    /// cross terms cancel in every frame), amplitude falling `tilt` dB per octave, harmonics up to 3.4 kHz.
    static func tilted(rate: Int, seconds: Double, tilt: Double) -> (samples: [Float], harmonics: [(Double, Double)]) {
        let f0 = 200.0
        let harmonics = (1...17).map { h in (f0 * Double(h), 0.1 * pow(10, tilt * log2(Double(h)) / 20)) }
        let samples = (0..<Int(seconds * Double(rate))).map { i in
            let t = Double(i) / Double(rate)
            return Float(harmonics.reduce(0) { $0 + $1.1 * sin(2 * .pi * $1.0 * t) })
        }
        return (samples, harmonics)
    }

    /// The balance the meter's own bands give a line spectrum: each band is a 2nd-order Butterworth high-pass
    /// and low-pass made by the bilinear transform, whose power response is exactly Ω⁴ / (1 + Ω⁴) and
    /// 1 / (1 + Ω⁴) with Ω = tan(πf / fs) / tan(πfc / fs). Corners as ``LevelMeter`` sets them.
    static func modelBalance(_ harmonics: [(Double, Double)], rate: Int) -> Double {
        let fs = Double(rate)
        var power = [Double](repeating: 0, count: 8)
        for b in 0..<8 {
            let high = min(LevelMeter.bandEdges[b + 1], 0.45 * fs)
            let low = min(LevelMeter.bandEdges[b], 0.5 * high)
            for (f, a) in harmonics where f < fs / 2 {
                let hp = pow(tan(.pi * f / fs) / tan(.pi * low / fs), 4)
                let lp = pow(tan(.pi * f / fs) / tan(.pi * high / fs), 4)
                power[b] += a * a / 2 * (hp / (1 + hp)) * (1 / (1 + lp))
            }
        }
        let lowSide = LevelMeter.balanceLowBands.reduce(0) { $0 + power[$1] }
        let highSide = LevelMeter.balanceHighBands.reduce(0) { $0 + power[$1] }
        return 10 * log10(highSide / lowSide)
    }

    /// The same spectrum's alpha ratio with ideal (brick-wall) bands: what the figure stands for.
    static func idealBalance(_ harmonics: [(Double, Double)]) -> Double {
        let edges = LevelMeter.bandEdges
        let low = edges[LevelMeter.balanceLowBands.lowerBound]..<edges[LevelMeter.balanceLowBands.upperBound + 1]
        let high = edges[LevelMeter.balanceHighBands.lowerBound]..<edges[LevelMeter.balanceHighBands.upperBound + 1]
        let lowPower = harmonics.filter { low.contains($0.0) }.reduce(0) { $0 + $1.1 * $1.1 }
        let highPower = harmonics.filter { high.contains($0.0) }.reduce(0) { $0 + $1.1 * $1.1 }
        return 10 * log10(highPower / lowPower)
    }

    static func median(_ values: [Float]) -> Float {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }

    @Test("a harmonic complex of known tilt reads the balance of its spectrum", arguments: [8000, 16000])
    func balanceOfKnownTilt(rate: Int) {
        var measured: [Float] = []
        for tilt in [0.0, -6, -12] {
            let (samples, harmonics) = Self.tilted(rate: rate, seconds: 1, tilt: tilt)
            let frames = ActivityTests.analyze(samples, sampleRate: rate).frames
            // Past the filters' start-up, before the end's zero padding.
            let balance = Self.median(frames[20..<(frames.count - 5)].compactMap(\.balanceDB))
            let model = Self.modelBalance(harmonics, rate: rate)
            let ideal = Self.idealBalance(harmonics)
            #expect(abs(Double(balance) - model) <= 0.05, "tilt \(tilt) dB/oct at \(rate) Hz: \(balance) dB, band model \(model) dB")
            // The 12 dB/octave skirts reach into the neighbours: within 2 dB of what ideal bands would read.
            #expect(abs(Double(balance) - ideal) <= 2, "tilt \(tilt) dB/oct at \(rate) Hz: \(balance) dB, ideal bands \(ideal) dB")
            measured.append(balance)
        }
        // Steeper tilt, lower balance: 6 dB/octave more takes off about 6 dB × the octaves between the sides.
        #expect(measured[0] - measured[1] > 5 && measured[1] - measured[2] > 5, "balances \(measured)")
    }

    @Test("digital silence has no balance; a sound does", arguments: [8000, 16000])
    func silenceHasNoBalance(rate: Int) {
        let (voice, _) = Self.tilted(rate: rate, seconds: 0.5, tilt: -6)
        let frames = ActivityTests.analyze(TestSignals.silence(rate: rate, seconds: 0.5) + voice, sampleRate: rate).frames
        #expect(frames[0..<45].allSatisfy { $0.balanceDB == nil }, "silence before the sound")
        #expect(frames[55..<95].allSatisfy { $0.balanceDB != nil }, "the sound")
    }

    /// Speech from espeak-ng, resampled to 16 kHz, and the same through a telephone line (sox: 300–3400 Hz
    /// band-pass, 8 kHz, μ-law): the balance's median over the frames both call speech agrees within 1.5 dB.
    @Test("spectral balance reads alike at 16 kHz and through an 8 kHz μ-law telephone line",
          .enabled(if: Self.haveTools), arguments: [("en-us", "Could you please check my account, I was charged twice this month."),
                                                   ("en-gb", "I have been waiting for forty minutes and nobody can tell me anything."),
                                                   ("vi", "Vâng, được rồi, tôi sẽ gọi lại vào ngày mai.")])
    func balanceSurvivesTheTelephoneBand(voice: String, text: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("attune-balance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let spoken = dir.appendingPathComponent("spoken.wav").path
        let wide = dir.appendingPathComponent("wide.f32").path
        let phone = dir.appendingPathComponent("phone.wav").path
        let phoneFloat = dir.appendingPathComponent("phone.f32").path
        try Self.run("/usr/bin/espeak-ng", ["-v", voice, "-w", spoken, text])
        try Self.run("/usr/bin/sox", [spoken, "-r", "16000", "-c", "1", "-e", "floating-point", "-b", "32", "-t", "raw", wide])
        try Self.run("/usr/bin/sox", [spoken, "-r", "8000", "-c", "1", "-e", "u-law", phone, "sinc", "300-3400"])
        try Self.run("/usr/bin/sox", [phone, "-e", "floating-point", "-b", "32", "-t", "raw", phoneFloat])
        let wideFrames = ActivityTests.analyze(try Self.floats(wide), sampleRate: 16000).frames
        let phoneFrames = ActivityTests.analyze(try Self.floats(phoneFloat), sampleRate: 8000).frames
        var wideBalance: [Float] = [], phoneBalance: [Float] = []
        for (w, p) in zip(wideFrames, phoneFrames) where w.speech && p.speech {
            if let a = w.balanceDB, let b = p.balanceDB { wideBalance.append(a); phoneBalance.append(b) }
        }
        #expect(wideBalance.count >= 100, "\(wideBalance.count) frames of speech on both lines")
        let a = Self.median(wideBalance), b = Self.median(phoneBalance)
        #expect(abs(a - b) <= 1.5, "\(voice): median balance \(a) dB at 16 kHz, \(b) dB through the telephone line")
    }

    static let haveTools = FileManager.default.isExecutableFile(atPath: "/usr/bin/espeak-ng")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/sox")

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(executable) \(arguments)")
    }

    static func floats(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    // MARK: - Harmonics-to-noise ratio

    /// A periodic signal (F0 137 Hz, so the period falls between samples at every rate; harmonics 1/k up to
    /// 1.7 kHz, inside the band the pitch tracker correlates) plus white noise at `snr` dB over the full band.
    static func noisyVoice(rate: Int, seconds: Double, snr: Double) -> [Float] {
        let n = Int(seconds * Double(rate))
        var periodic = (0..<n).map { i in
            let t = Double(i) / Double(rate)
            var v = 0.0
            for k in 1...12 where 137 * Double(k) < 1700 { v += sin(2 * .pi * 137 * Double(k) * t + Double(k * k)) / Double(k) }
            return Float(v)
        }
        let signalPower = periodic.reduce(0) { $0 + Double($1 * $1) } / Double(n)
        let scale = Float((0.01 / signalPower).squareRoot())  // −20 dB mean square
        periodic = periodic.map { $0 * scale }
        // Uniform noise in ±A has mean square A² / 3.
        let amplitude = Float((3 * 0.01 / pow(10, snr / 10)).squareRoot())
        let noise = TestSignals.noise(count: n, amplitude: amplitude, seed: 4242)
        return zip(periodic, noise).map { $0 + $1 }
    }

    @Test("HNR tracks the SNR of a periodic signal in white noise", arguments: [8000, 16000])
    func hnrTracksSNR(rate: Int) {
        // The tracker correlates 0–1.95 kHz: white noise loses the rest of its power, the voice nothing.
        let bandGain = 10 * log10(Double(rate) / 2 / 1950)
        var medians: [Float] = []
        for snr in [0.0, 10, 20] {
            let frames = ActivityTests.analyze(Self.noisyVoice(rate: rate, seconds: 2, snr: snr), sampleRate: rate).frames
            let steady = frames[30..<(frames.count - 30)]
            let hnr = steady.compactMap(\.hnrDB)
            #expect(hnr.count >= steady.count * 9 / 10, "SNR \(snr) dB: \(hnr.count) of \(steady.count) frames voiced")
            let median = Self.median(hnr)
            #expect(abs(Double(median) - (snr + bandGain)) <= 1.5,
                    "SNR \(snr) dB at \(rate) Hz: HNR \(median) dB, in-band SNR \(snr + bandGain) dB")
            medians.append(median)
        }
        #expect(medians == medians.sorted() && medians[2] - medians[0] > 15, "cleaner signal, higher HNR: \(medians)")
    }

    @Test("unvoiced frames have no HNR, voiced frames have one within range")
    func hnrOnlyWhenVoiced() {
        let rate = 8000
        let audio = TestSignals.noise(count: rate / 2, amplitude: 0.1) + Self.noisyVoice(rate: rate, seconds: 1, snr: 30)
        let frames = ActivityTests.analyze(audio, sampleRate: rate).frames
        #expect(frames.allSatisfy { ($0.f0 > 0) == ($0.hnrDB != nil) }, "HNR exactly on voiced frames")
        #expect(frames.compactMap(\.hnrDB).allSatisfy { PitchTracker.hnrRange.contains($0) })
        #expect(frames[5..<45].allSatisfy { $0.hnrDB == nil }, "white noise alone is unvoiced")
    }

    @Test("the HNR formula: 0 dB at r = 0.5, clamped at the ends of its range")
    func hnrFormula() {
        #expect(abs(PitchTracker.harmonicsToNoise(0.5)) < 1e-4)
        #expect(abs(PitchTracker.harmonicsToNoise(0.9) - 9.542) < 1e-3)
        #expect(PitchTracker.harmonicsToNoise(1) == PitchTracker.hnrRange.upperBound)
        #expect(PitchTracker.harmonicsToNoise(0) == PitchTracker.hnrRange.lowerBound)
        #expect(PitchTracker.harmonicsToNoise(-0.3) == PitchTracker.hnrRange.lowerBound)
    }
}
