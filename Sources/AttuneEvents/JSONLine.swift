/// Builds one NDJSON line into a reusable byte buffer: keys in the order written, numbers with a fixed
/// number of decimals (so times always carry milliseconds), no Foundation and no allocation once the buffer
/// has grown to the longest line.
public struct JSONLine: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var first = true

    public init() { bytes.reserveCapacity(512) }

    /// Starts a new object, discarding the previous line.
    public mutating func begin() {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    /// Closes the object and ends the line.
    public mutating func end() {
        bytes.append(UInt8(ascii: "}"))
        bytes.append(UInt8(ascii: "\n"))
    }

    public mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        appendQuoted(value)
    }

    public mutating func field(_ key: StaticString, _ value: Int) {
        self.key(key)
        appendInteger(value)
    }

    public mutating func field(_ key: StaticString, _ value: Bool) {
        self.key(key)
        appendLiteral(value ? "true" : "false")
    }

    /// Writes `value` rounded to `decimals` places, or `null` when it is nil or not finite.
    public mutating func field(_ key: StaticString, _ value: Double?, decimals: Int) {
        self.key(key)
        guard let value, value.isFinite else { appendLiteral("null"); return }
        appendFixed(value, decimals: decimals)
    }

    /// Writes an array of strings.
    public mutating func field(_ key: StaticString, _ values: [String]) {
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            appendQuoted(v)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Opens a nested object under `key`; close it with ``endObject()``.
    public mutating func beginObject(_ key: StaticString) {
        self.key(key)
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    /// Closes the object ``beginObject(_:)`` opened.
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        first = false
    }

    private mutating func key(_ key: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func appendLiteral(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func appendInteger(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var v = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            } while v > 0
            for i in stride(from: n - 1, through: 0, by: -1) { bytes.append(d[i]) }
        }
    }

    private mutating func appendFixed(_ value: Double, decimals: Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded()
        // Beyond 2^53 the fixed form would be meaningless; such values never occur in records.
        guard scaled < 9.0e15 else { appendInteger(Int(value.rounded())); return }
        let units = Int(scaled)
        let p = Int(scale)
        if value < 0 && units != 0 { bytes.append(UInt8(ascii: "-")) }
        appendInteger(units / p)
        if decimals > 0 {
            bytes.append(UInt8(ascii: "."))
            var frac = units % p
            var div = p / 10
            while div > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(frac / div))
                frac %= div
                div /= 10
            }
        }
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
