import AttuneTestSupport
import Foundation
import Testing

/// The pitch tracker's octave on a telephone line, end to end on synthesised speech: flite's low male voice
/// (kal) reads a sentence, sox puts it through the telephone band, and `attune analyze --frames` tracks both.
/// Behind the 300 Hz high-pass a male voice whose odd harmonics fade (a falling phrase end) correlates
/// better at half its period for a few frames, and a run that jumped there stayed an octave up; the climb
/// cost (see `PitchTracker.speakerCost`) keeps it at the speaker's octave. The full evaluation is
/// Tools/pitch_eval.py and Tools/pitch_eval_real.py; this guards the path search's octave choice.
@Suite struct PitchOctaveCLITests {
    /// F0 by frame index (0 when unvoiced).
    static func track(_ file: String) throws -> [Int: Double] {
        let r = try runAttune(["analyze", file, "--frames"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        var f0: [Int: Double] = [:]
        for frame in decodeRecords(r.stdout).frames { f0[Int((frame.t / 0.01).rounded())] = frame.f0Hz ?? 0 }
        return f0
    }

    // Before the climb cost, 28 and 13 of these frames read an octave up (10 % and 4.5 %); after it 0 and 3.
    @Test("a male voice on a telephone line keeps the octave it has on the clean recording",
          arguments: ["Well, that is fine, I suppose, if there is really nothing else you can do for me.",
                      "I have been waiting on this line for forty minutes and nobody can tell me where my order is."])
    func telephoneOctave(text: String) throws {
        let dir = TempDir()
        let clean = dir.file("clean.wav"), phone = dir.file("phone.wav")
        try runTool("flite", ["-voice", "kal", "--setf", "duration_stretch=1.0", "-t", text, "-o", clean])
        try runTool("sox", ["-D", "-V1", clean, "-r", "8000", "-e", "mu-law", "-c", "1", phone, "sinc", "300-3400"])
        let reference = try Self.track(clean), line = try Self.track(phone)
        let both = reference.keys.filter { (reference[$0] ?? 0) > 0 && (line[$0] ?? 0) > 0 }.sorted()
        #expect(both.count >= 250, "\(both.count) frames voiced in both tracks")
        let off = both.filter { k in
            let ratio = line[k]! / reference[k]!
            return ratio > 1.6 || ratio < 1 / 1.6
        }
        #expect(Double(off.count) <= 0.02 * Double(both.count),
                "\(off.count) of \(both.count) frames an octave off the clean track: \(off.map { "\($0): \(line[$0]!) vs \(reference[$0]!)" }.prefix(8))")
    }
}
