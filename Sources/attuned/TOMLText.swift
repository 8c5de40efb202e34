import TOMLKit

/// TOML text that toml++ (under TOMLKit) would abort on rather than refuse: a `}` where an array expects a value
/// (`x = [}`, `x = [1, }`) trips an assertion in its value parser, in release builds too, and the daemon died with
/// SIGABRT on a config file or `--set` that a fuzz test generated. Such text is never valid TOML, so it is refused
/// before the parser sees it.
struct TOMLAbortingText: Error, CustomStringConvertible {
    let line: Int
    var description: String { "line \(line): '}' where a value is expected (after '[' or ',')" }
}

/// Parses `text` with TOMLKit after refusing what would make toml++ abort (``TOMLAbortingText``).
func parseTOML(_ text: String) throws -> TOMLTable {
    try refuseAbortingText(text)
    return try TOMLTable(string: text)
}

/// Throws when a `}` outside strings and comments follows a `[` or `,` with only white space, newlines or comments
/// between them.
private func refuseAbortingText(_ text: String) throws(TOMLAbortingText) {
    let b = Array(text.utf8)
    var i = 0
    var line = 1
    var last: UInt8 = 0
    func at(_ k: Int) -> UInt8 { k < b.count ? b[k] : 0 }
    while i < b.count {
        let c = b[i]
        switch c {
        case UInt8(ascii: "\n"):
            line += 1
            i += 1
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
            i += 1
        case UInt8(ascii: "#"):
            while i < b.count && b[i] != UInt8(ascii: "\n") { i += 1 }
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            // Basic strings take escapes, literal ones none; tripled quotes open a multi-line string.
            let escapes = c == UInt8(ascii: "\"")
            let multi = at(i + 1) == c && at(i + 2) == c
            i += multi ? 3 : 1
            while i < b.count {
                if escapes && b[i] == UInt8(ascii: "\\") { i += 2; continue }
                if b[i] == UInt8(ascii: "\n") {
                    if !multi { break }     // an unclosed string; the parser says so, and the newline is counted above
                    line += 1
                }
                if b[i] == c && (!multi || (at(i + 1) == c && at(i + 2) == c)) {
                    i += multi ? 3 : 1
                    break
                }
                i += 1
            }
            last = c
        default:
            if c == UInt8(ascii: "}") && (last == UInt8(ascii: "[") || last == UInt8(ascii: ",")) {
                throw TOMLAbortingText(line: line)
            }
            last = c
            i += 1
        }
    }
}
