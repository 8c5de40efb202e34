import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `attune` to completion; stdout, stderr and the exit code.
func runAttune(_ arguments: [String], dir: TempDir) throws -> (status: Int32, stdout: String, stderr: String) {
    let child = try Child(try builtBinary("attune"), arguments, dir: dir, tag: "attune-\(UUID().uuidString)")
    guard let status = child.wait(timeout: 300) else { throw DaemonTestFailure("attune \(arguments) ran over 300 s") }
    return (status, child.stdout, child.stderr)
}

/// Records of `types` from NDJSON lines, in order.
func records(_ all: [String], types: Set<String>) -> [String] {
    all.filter { line in types.contains { line.hasPrefix(#"{"type":"\#($0)""#) } }
}

/// Every daemon test runs one at a time: each starts an `attuned` whose DSP workers (one per core) want the
/// machine, and side by side on two cores they would only slow each other into their timeouts.
@Suite("attuned end to end", .serialized) struct DaemonSuite {}

/// Where two record streams first differ, for a failure message: nil when they are equal.
func firstDifference(_ live: [String], _ reference: [String]) -> String? {
    if let i = zip(live, reference).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
        return "record \(i): live \(live[i]) vs analyze \(reference[i])"
    }
    return live.count == reference.count ? nil : "live has \(live.count) records, analyze \(reference.count)"
}

/// The records a subscriber received, without the lines addressed to it alone (`hello`, `subscribed`).
func published(_ client: UnixClient) -> [String] {
    client.receivedLines.filter { !$0.hasPrefix(#"{"type":"hello""#) && !$0.hasPrefix(#"{"type":"subscribed""#) }
}
