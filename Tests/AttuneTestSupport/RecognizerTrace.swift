import Foundation

/// The bundled call's first 9 s (the customer's first turn is 4.4-8.0 s), written into `dir` with sox: enough for the
/// recogniser to hear some words without a slow decode of the whole call on a shared machine.
public func bundledCallOpening(in dir: TempDir) throws -> String {
    let path = dir.file("call.wav")
    let r = try runProcess("/usr/bin/sox", [packageRoot + "/Samples/call-8k-mulaw.wav", path, "trim", "0", "9"])
    guard r.status == 0 else { throw ProcessFailure(description: "sox exited \(r.status): \(String(decoding: r.stderr, as: UTF8.self))") }
    return path
}

/// Per channel, the words of the utterances `ATTUNE_ASR_TRACE=1` printed on stderr (native transcript lines): what
/// the built-in recogniser heard, whatever the records show of it.
public func recognisedWords(trace stderr: String) -> [Int: [String]] {
    var out: [Int: [String]] = [:]
    for line in stderr.split(separator: "\n") where line.hasPrefix("{") {
        guard let u = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let c = u["channel"] as? Int,
              let words = u["words"] as? [[String: Any]] else { continue }
        out[c, default: []] += words.compactMap { $0["w"] as? String }
    }
    return out
}
