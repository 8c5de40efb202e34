import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a child process left behind.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data

    /// stdout as UTF-8 text; output that is not UTF-8 throws, so a passing test has valid output.
    public func stdoutText() throws -> String { try Self.text(stdout, "stdout") }
    public func stderrText() throws -> String { try Self.text(stderr, "stderr") }

    private static func text(_ data: Data, _ name: String) throws -> String {
        guard let s = String(data: data, encoding: .utf8) else { throw ProcessFailure(description: "\(name) is not UTF-8") }
        return s
    }
}

public struct ProcessFailure: Error, CustomStringConvertible {
    public var description: String
}

/// A child that exits before reading all its stdin (a usage error, say) closes the pipe under the feeder thread;
/// the write must then fail with EPIPE, not kill the whole test process with SIGPIPE.
public let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN); return () }()

/// Runs `executable` with `arguments`, feeding `stdin` through a pipe (or `stdinFile` opened for reading, or
/// /dev/null), in `directory` (the test's own when nil), with `environment` added to this process's, and waits
/// for it. stdout and stderr go to files, so a child that writes a lot cannot fill a pipe and stall.
public func runProcess(_ executable: String, _ arguments: [String], stdin: Data? = nil, stdinFile: String? = nil,
                       in directory: String? = nil, environment: [String: String] = [:]) throws -> ProcessOutput {
    ignoreBrokenPipes
    let dir = TempDir()
    let outPath = dir.file("stdout"), errPath = dir.file("stderr")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = out
    process.standardError = err
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let input = Pipe()
    if let stdinFile {
        guard let handle = FileHandle(forReadingAtPath: stdinFile) else { throw ProcessFailure(description: "cannot open \(stdinFile)") }
        process.standardInput = handle
    } else {
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    }
    try process.run()
    if let stdin {
        // Feed from another thread so a child that stops reading early cannot deadlock the test.
        let writer = input.fileHandleForWriting
        let feeder = Thread {
            try? writer.write(contentsOf: stdin)
            try? writer.close()
        }
        feeder.start()
    }
    process.waitUntilExit()
    try out.close(); try err.close()
    return ProcessOutput(status: process.terminationStatus, stdout: try Data(contentsOf: URL(fileURLWithPath: outPath)),
                         stderr: try Data(contentsOf: URL(fileURLWithPath: errPath)))
}
