import Foundation

/// The package root: tests read `Samples/` and find `.build` from it.
public let packageRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A binary was not where SwiftPM puts it.
public struct BinaryNotFound: Error, CustomStringConvertible {
    public var description: String
}

/// An executable SwiftPM built next to the running test bundle (`<scratch>/<triple>/debug/NAME`), or the path in
/// `$<NAME>_BIN` (`$ATTUNE_BIN`, `$ATTUNED_BIN`). Tests never build it themselves: `swift test` builds every
/// product first, and running the real binary is the point of these tests.
public func builtBinary(_ name: String) throws -> String {
    let variable = name.uppercased().replacingOccurrences(of: "-", with: "_") + "_BIN"
    if let env = ProcessInfo.processInfo.environment[variable] { return env }
    var candidates: [String] = []
    for exe in [CommandLine.arguments.first, Bundle.main.executablePath].compactMap({ $0 }) {
        // The bundle is `<scratch>/<triple>/debug/X.xctest` (a file on Linux, a directory elsewhere).
        var dir = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent(name).path)
            dir = dir.deletingLastPathComponent()
        }
    }
    candidates.append(packageRoot + "/.build/debug/" + name)
    for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
    throw BinaryNotFound(description: "\(name) binary not found (looked in \(candidates)); build it or set \(variable)")
}
