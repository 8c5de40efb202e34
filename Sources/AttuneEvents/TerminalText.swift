/// `text` safe to print as one line on a terminal: line breaks, tabs and other control characters (C0, DEL,
/// C1, the Unicode line and paragraph separators) written as `\n`, `\r`, `\t` or `\xNN`/`\u{NNNN}`, so a file
/// name or a flag's value can neither split an error line nor send escape sequences to the terminal. Both
/// executables print their errors through it.
public func escapedForTerminal(_ text: String) -> String {
    var out = ""
    out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for s in text.unicodeScalars {
        switch s.value {
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0..<0x20, 0x7F...0x9F: out += "\\x" + hexDigits(UInt8(s.value))
        case 0x2028, 0x2029: out += "\\u{\(String(s.value, radix: 16))}"
        default: out.unicodeScalars.append(s)
        }
    }
    return out
}

/// `byte` as two lower-case hex digits, for the `\xNN` of escaped text and of path bytes that are not UTF-8.
public func hexDigits(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}
