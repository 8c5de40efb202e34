import AttuneTestSupport
import Foundation
import Testing

/// The scripted calls of issue 9, spoken by espeak-ng in English and Vietnamese with their transcripts, through the
/// real `attune analyze`: each event the script calls for starts where it should (frustration within 1.5 s of the
/// escalation's start, never in the calm part), and no emotion event starts where none belongs.
/// `Tools/scripted_calls.py` builds the calls and judges them; it prints precision and recall per kind.
@Suite("scripted calls (espeak-ng, en + vi)") struct ScriptedCallsTests {
    @Test func everyScriptedEventFiresAndNothingElse() throws {
        let attune = try builtBinary("attune")
        let tool = packageRoot + "/Tools/scripted_calls.py"
        let r = try runProcess("/usr/bin/env", ["python3", tool, "--attune", attune, "--check"])
        let report = try r.stdoutText()
        let errors = try r.stderrText()
        #expect(r.status == 0, "\(report)\n\(errors)")
        // The table must list every kind the script calls for, each found.
        for kind in ["frustration", "incongruence", "hesitation", "disengagement", "satisfaction", "dead_air", "slow_response", "talk_over", "urgency"] {
            let row = report.split(separator: "\n").first { $0.hasPrefix(kind + " ") }
            #expect(row?.split(separator: " ").dropFirst(3).first == "1.00", "recall of \(kind): \(row ?? "missing")")
        }
    }
}
