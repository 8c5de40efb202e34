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
        assemble(key) { out, n in JSONLine.putInteger(value, out, &n) }
    }

    public mutating func field(_ key: StaticString, _ value: Bool) {
        assemble(key) { out, n in JSONLine.put(value ? "true" : "false", out, &n) }
    }

    /// Writes `value` rounded to `decimals` places (at most 9), or `null` when it is nil or not finite.
    public mutating func field(_ key: StaticString, _ value: Double?, decimals: Int) {
        precondition((0...9).contains(decimals), "JSONLine: \(decimals) decimals")
        assemble(key) { out, n in
            guard let value, value.isFinite else { JSONLine.put("null", out, &n); return }
            JSONLine.putFixed(value, decimals: decimals, out, &n)
        }
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

    // Why the stack scratch: appending to the array byte by byte pays a uniqueness check and a capacity check per
    // byte, and a frame record is ~200 bytes in a dozen fields, 200,000 times a second in a loaded daemon. A field
    // (separator, key and scalar value) is assembled on the stack and appended with one copy instead.

    /// Besides the key: separator, quotes and colon, then a 20-digit integer with sign, point and 9 decimals, `false`.
    private static let scratchValueBytes = 40

    /// Appends the key of a field and what `value` puts after it, with one copy into ``bytes``.
    private mutating func assemble(_ key: StaticString, _ value: (UnsafeMutablePointer<UInt8>, inout Int) -> Void) {
        let separator = !first
        first = false
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: key.utf8CodeUnitCount + JSONLine.scratchValueBytes) { scratch in
            let out = scratch.baseAddress!
            var n = 0
            if separator { out[n] = UInt8(ascii: ","); n += 1 }
            out[n] = UInt8(ascii: "\""); n += 1
            key.withUTF8Buffer { k in
                (out + n).update(from: k.baseAddress!, count: k.count)
                n += k.count
            }
            out[n] = UInt8(ascii: "\""); out[n + 1] = UInt8(ascii: ":"); n += 2
            value(out, &n)
            bytes.append(contentsOf: UnsafeBufferPointer(start: out, count: n))
        }
    }

    /// The key of a field whose value is appended after it (strings, arrays, objects).
    private mutating func key(_ key: StaticString) {
        assemble(key) { _, _ in }
    }

    private static func put(_ s: StaticString, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        s.withUTF8Buffer { b in
            (out + n).update(from: b.baseAddress!, count: b.count)
            n += b.count
        }
    }

    /// At most 20 bytes: a sign and 19 digits.
    private static func putInteger(_ value: Int, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        if value < 0 { out[n] = UInt8(ascii: "-"); n += 1 }
        putDigits(value.magnitude, out, &n)
    }

    private static func putDigits(_ value: UInt, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        var digits = 1
        var probe = value
        while probe >= 10 { probe /= 10; digits += 1 }
        var v = value
        var i = n + digits - 1
        repeat {
            out[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        } while v > 0
        n += digits
    }

    /// Rounds half away from zero at `decimals` places; a value that rounds to zero is written without a sign.
    private static func putFixed(_ value: Double, decimals: Int, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded()
        // Beyond 2^53 the fixed form would be meaningless; such values never occur in records, but if one did it
        // is still written as a JSON number (and one beyond Int's range in exponent form, never a trap).
        guard scaled < 9.0e15 else {
            if value.magnitude < 9.0e18 { putInteger(Int(value.rounded()), out, &n) } else { putExponent(value, out, &n) }
            return
        }
        let units = UInt(scaled)
        let p = UInt(scale)
        if value < 0 && units != 0 { out[n] = UInt8(ascii: "-"); n += 1 }
        putDigits(units / p, out, &n)
        guard decimals > 0 else { return }
        out[n] = UInt8(ascii: "."); n += 1
        var frac = units % p
        var i = n + decimals - 1
        for _ in 0..<decimals {
            out[i] = UInt8(ascii: "0") + UInt8(frac % 10)
            frac /= 10
            i -= 1
        }
        n += decimals
    }

    /// Swift's shortest round-trip form (`1e+19`), at most 24 bytes; only for magnitudes beyond Int.
    private static func putExponent(_ value: Double, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        for b in "\(value)".utf8.prefix(24) { out[n] = b; n += 1 }
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Call ids, roles and words almost never need escaping: copy them whole when they do not.
        let copied: Bool? = s.utf8.withContiguousStorageIfAvailable { utf8 in
            for b in utf8 where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if copied != true {
            for b in s.utf8 { appendEscaped(b) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ b: UInt8) {
        switch b {
        case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
        case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
        case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
        case 0..<0x20:
            let hex: StaticString = "0123456789abcdef"
            hex.withUTF8Buffer { h in
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          h[Int(b >> 4)], h[Int(b & 0xF)]])
            }
        default: bytes.append(b)
        }
    }
}
