import AttuneEvents
#if canImport(Glibc)
import Glibc
#endif

/// A path as the user typed it: the exact bytes the kernel passed in argv, which is what must be opened, and a
/// printable name for messages.
///
/// Swift decodes argv as UTF-8, replacing bytes that are not UTF-8 with U+FFFD; a path made of such bytes then
/// names a file that does not exist. The raw bytes come from `CommandLine.unsafeArgv` instead.
struct PathArgument {
    /// The path as a NUL-terminated C string, byte for byte as given.
    let bytes: [CChar]
    /// The path for messages: bytes that are not UTF-8 shown as `\xNN`, the rest as typed (control characters are
    /// escaped when the line is printed, see ``escapedForTerminal(_:)``).
    let name: String

    /// The argument ArgumentParser handed over as `value`: the argv entry (or the part after `=` of an
    /// `--option=value` entry) that decodes to it.
    init(_ value: String) {
        var found: [UInt8]?
        for i in 1..<Int(CommandLine.argc) where found == nil {
            guard let p = CommandLine.unsafeArgv[i] else { continue }
            let entry = Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
            let afterEquals = entry.firstIndex(of: UInt8(ascii: "=")).map { Array(entry[($0 + 1)...]) }
            found = [entry, afterEquals].compactMap { $0 }.first { String(decoding: $0, as: UTF8.self) == value }
        }
        let raw = found ?? Array(value.utf8)
        bytes = raw.map { CChar(bitPattern: $0) } + [0]
        name = Self.printable(raw)
    }

    /// `raw` as text, each byte that is not part of a valid UTF-8 sequence written `\xNN`.
    static func printable(_ raw: [UInt8]) -> String {
        if let valid = String(validating: raw, as: UTF8.self) { return valid }
        var out = ""
        var i = 0
        while i < raw.count {
            // A valid sequence has one length, set by its lead byte, so the first length that decodes is it.
            let scalar = (1...4).lazy.compactMap { n -> (String, Int)? in
                guard i + n <= raw.count, let s = String(validating: raw[i..<(i + n)], as: UTF8.self) else { return nil }
                return (s, n)
            }.first
            if let (s, n) = scalar {
                out += s
                i += n
            } else {
                out += "\\x" + hexDigits(raw[i])
                i += 1
            }
        }
        return out
    }
}

/// ArgumentParser reads `-dash.wav` as the short flags `-d -a -s -h`, and `-h` prints help and exits 0, so a
/// file whose name starts with `-` would silently not be analysed. A single-dash argument that is not `-` (stdin)
/// or `-h` is refused before parsing, with the two ways to name such a file. Returns the message, or nil.
func dashArgumentProblem(_ arguments: [String], subcommand: String, optionsWithValues: Set<String>) -> String? {
    operands(arguments, subcommand: subcommand, optionsWithValues: optionsWithValues)
        .first { a, _ in a.hasPrefix("-") && !a.hasPrefix("--") && a != "-" && a != "-h" }
        .map { a, _ in dashHint(subcommand, a) }
}

/// `--dash.wav` is no option, so ArgumentParser refuses it, but with "Unknown option" or "Missing expected
/// argument", which does not say how to name the file. Called once parsing has failed: an argument of that form
/// that names an existing file, and with which written `./--dash.wav` the command line parses, gets the same
/// message as a single dash. Returns the message, or nil.
func doubleDashArgumentProblem(_ arguments: [String], subcommand: String, optionsWithValues: Set<String>) -> String? {
    operands(arguments, subcommand: subcommand, optionsWithValues: optionsWithValues).first { a, i in
        guard a.hasPrefix("--"), a.count > 2, access(a, F_OK) == 0 else { return false }
        var named = arguments
        named[i] = "./" + a
        return (try? Attune.parseAsRoot(named)) != nil
    }.map { a, _ in dashHint(subcommand, a) }
}

/// The arguments after `subcommand` up to `--`, with their indexes, leaving out the values of options that take one.
private func operands(_ arguments: [String], subcommand: String, optionsWithValues: Set<String>) -> [(String, Int)] {
    guard let at = arguments.firstIndex(of: subcommand) else { return [] }
    var out: [(String, Int)] = []
    var i = at + 1
    while i < arguments.count, arguments[i] != "--" {
        if optionsWithValues.contains(arguments[i]) { i += 2; continue }
        out.append((arguments[i], i))
        i += 1
    }
    return out
}

/// How to name a file whose name starts with `-`.
private func dashHint(_ subcommand: String, _ argument: String) -> String {
    "attune \(subcommand): '\(argument)' is not an option; for a file whose name starts with '-', "
        + "write ./\(argument) or -- \(argument)"
}
