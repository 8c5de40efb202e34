/// `text` safe to print as one line on a terminal: line breaks, tabs and other control characters (C0, DEL,
/// C1, the Unicode line and paragraph separators) written as `\n`, `\r`, `\t` or `\xNN`/`\u{NNNN}`, so a file
/// name or a flag's value can neither split an error line nor send escape sequences to the terminal. Both
/// executables print their errors through it.
public func escapedForTerminal(_ text: String) -> String {
    let digits: [Character] = Array("0123456789abcdef")
    var out = ""
    out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for s in text.unicodeScalars {
        switch s.value {
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0..<0x20, 0x7F...0x9F: out += "\\x" + String([digits[Int(s.value >> 4)], digits[Int(s.value & 15)]])
        case 0x2028, 0x2029: out += "\\u{\(String(s.value, radix: 16))}"
        default: out.unicodeScalars.append(s)
        }
    }
    return out
}
