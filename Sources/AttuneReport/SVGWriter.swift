/// `text` safe inside an XML attribute value or element: the five markup characters as entities, and every
/// character XML 1.0 forbids (C0 controls other than tab, line feed and carriage return, U+FFFE, U+FFFF) as
/// U+FFFD, so an untrusted transcript can neither break out of the markup nor make the file unparseable.
///
/// Bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) are legal XML but would reorder the rest
/// of a label on screen, so a transcript could make one word read as another; they become U+FFFD too.
public func xmlEscaped(_ text: String) -> String {
    var out = ""
    out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for s in text.unicodeScalars {
        switch s.value {
        case 0x26: out += "&amp;"
        case 0x3C: out += "&lt;"
        case 0x3E: out += "&gt;"
        case 0x22: out += "&quot;"
        case 0x27: out += "&#39;"
        case 0x09, 0x0A, 0x0D: out.unicodeScalars.append(s)
        case 0..<0x20, 0xFFFE, 0xFFFF, 0x202A...0x202E, 0x2066...0x2069: out += "\u{FFFD}"
        default: out.unicodeScalars.append(s)
        }
    }
    return out
}

/// `value` with exactly `decimals` places (at most 3), written the same on every machine and locale, without
/// a negative zero: the renderer's output must be byte-for-byte deterministic.
func fixed(_ value: Double, _ decimals: Int = 1) -> String {
    guard value.isFinite else { return "0" }
    let scale = [1.0, 10, 100, 1000][min(max(decimals, 0), 3)]
    let scaled = Int((value * scale).rounded())
    if decimals <= 0 { return String(scaled) }
    let magnitude = scaled.magnitude
    let whole = magnitude / UInt(scale)
    var fraction = String(magnitude % UInt(scale))
    while fraction.count < decimals { fraction = "0" + fraction }
    return (scaled < 0 ? "-" : "") + String(whole) + "." + fraction
}

/// Builds an SVG document as text, one element at a time, escaping every attribute value and text it is given.
struct SVGWriter {
    private(set) var text = ""
    private var indent = 0

    /// Opens `tag` with `attributes` in the order given; close it with ``close(_:)``.
    mutating func open(_ tag: String, _ attributes: [(String, String)] = []) {
        line("<" + tag + Self.attributes(attributes) + ">")
        indent += 1
    }

    mutating func close(_ tag: String) {
        indent -= 1
        line("</" + tag + ">")
    }

    /// An element with no children, or with `content` as its text, and an optional `<title>` (the tooltip a
    /// browser shows on hover).
    mutating func element(_ tag: String, _ attributes: [(String, String)], content: String? = nil, title: String? = nil) {
        let head = "<" + tag + Self.attributes(attributes)
        switch (content, title) {
        case (nil, nil): line(head + "/>")
        case (let content?, nil): line(head + ">" + xmlEscaped(content) + "</" + tag + ">")
        case (let content, let title?):
            line(head + "><title>" + xmlEscaped(title) + "</title>" + xmlEscaped(content ?? "") + "</" + tag + ">")
        }
    }

    /// Markup the caller built itself (tspans), added as it is.
    mutating func raw(_ markup: String) { line(markup) }

    private mutating func line(_ s: String) {
        text += String(repeating: " ", count: indent) + s + "\n"
    }

    private static func attributes(_ list: [(String, String)]) -> String {
        list.map { " " + $0.0 + "=\"" + xmlEscaped($0.1) + "\"" }.joined()
    }
}
