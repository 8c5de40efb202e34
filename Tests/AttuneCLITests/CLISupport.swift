import AttuneEvents
import AttuneTestSupport
import Foundation
import Testing

/// The `attune` executable SwiftPM built next to this test bundle, or `$ATTUNE_BIN`.
func attuneBinary() throws -> String { try builtBinary("attune") }

/// The package root, from this file's location.
let repoRoot = packageRoot

struct CLIFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs a helper program (flite, espeak-ng, sox) found on the PATH, output discarded; throws unless it exits 0.
func runTool(_ executable: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CLIFailure("\(executable) \(arguments) exited \(process.terminationStatus)") }
}

/// Runs `attune` with `arguments`, feeding `stdin` through a pipe (or `stdinFile` opened for reading, or
/// /dev/null), in `directory` (the test's own when nil), with `environment` added, and waits for it.
func runAttune(_ arguments: [String], stdin: Data? = nil, stdinFile: String? = nil, in directory: String? = nil,
               environment: [String: String] = [:]) throws -> RunResult {
    let r = try runProcess(try attuneBinary(), arguments, stdin: stdin, stdinFile: stdinFile, in: directory, environment: environment)
    return RunResult(status: r.status, stdout: try r.stdoutText(), stderr: try r.stderrText())
}

/// Runs `attune` with arguments given as raw bytes, which need not be UTF-8 (Foundation's `Process` takes only
/// `String`s), stdin from /dev/null. Output that is not UTF-8 fails the read, so a passing call has valid output.
func runAttune(rawArguments: [[UInt8]]) throws -> RunResult {
    let dir = TempDir()
    let outPath = dir.file("stdout"), errPath = dir.file("stderr")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let binary = try attuneBinary()
    let argv: [UnsafeMutablePointer<CChar>?] = ([Array(binary.utf8)] + rawArguments).map { bytes in
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
        p[bytes.count] = 0
        return p
    } + [nil]
    defer { for p in argv { p?.deallocate() } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, binary, &actions, nil, argv, environ)
    guard rc == 0 else { throw CLIFailure("posix_spawn \(binary): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    // A death by signal shows as 128 + the signal, as a shell reports it.
    let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return RunResult(status: code,
                     stdout: try String(contentsOfFile: outPath, encoding: .utf8),
                     stderr: try String(contentsOfFile: errPath, encoding: .utf8))
}

/// The bytes of a RIFF file's `data` chunk.
func wavPayload(_ file: Data) throws -> Data {
    var i = 12
    while i + 8 <= file.count {
        let id = String(decoding: file[i..<(i + 4)], as: UTF8.self)
        let size = Int(file[i + 4]) | Int(file[i + 5]) << 8 | Int(file[i + 6]) << 16 | Int(file[i + 7]) << 24
        if id == "data" { return file[(i + 8)..<min(file.count, i + 8 + size)] }
        i += 8 + size + (size & 1)
    }
    throw CLIFailure("no data chunk")
}

/// G.711 μ-law byte → 16-bit linear, as libsndfile decodes it.
func mulawToLinear(_ byte: UInt8) -> Int16 {
    let u = Int(~byte)
    let magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return Int16(u & 0x80 != 0 ? 0x84 - magnitude : magnitude - 0x84)
}

/// Decodes every stdout line into its record type by `"type"`; records a test issue for any line that fails.
@discardableResult
func decodeRecords(_ stdout: String) -> (frames: [FrameRecord], segments: [SegmentRecord], summaries: [SummaryRecord], events: [EventRecord]) {
    var frames: [FrameRecord] = [], segments: [SegmentRecord] = [], summaries: [SummaryRecord] = [], events: [EventRecord] = []
    let decoder = JSONDecoder()
    for line in stdout.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.isEmpty { continue }
        let data = Data(line.utf8)
        do {
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            #expect(object?["v"] as? Int == 1, "\(line)")
            switch object?["type"] as? String {
            case "frame": frames.append(try decoder.decode(FrameRecord.self, from: data))
            case "segment": segments.append(try decoder.decode(SegmentRecord.self, from: data))
            case "summary": summaries.append(try decoder.decode(SummaryRecord.self, from: data))
            case "event": events.append(try decoder.decode(EventRecord.self, from: data))
            default: Issue.record("unexpected record type in \(line)")
            }
        } catch {
            Issue.record("not a valid record line: \(line): \(error)")
        }
    }
    #expect(stdout.isEmpty || stdout.hasSuffix("\n"), "output must end with a newline")
    return (frames, segments, summaries, events)
}
