/// Builds one NDJSON line into a reusable byte buffer: keys in the order written, numbers with a fixed
/// number of decimals (so times always carry milliseconds), no Foundation and no allocation once the buffer
/// has grown to the longest line.
public struct JSONLine: Sendable {
    /// The line ``end()`` closed, newline included.
    public private(set) var bytes: [UInt8] = []
    /// The line being written. Why raw memory and not the array: a frame record is a dozen fields, 200,000 times
    /// a second in a loaded daemon, and each `append(contentsOf:)` paid a uniqueness check, a capacity check and a
    /// generic copy. A field is now written in place after one capacity check, and the line is copied into
    /// ``bytes`` once, at ``end()``.
    private var storage: LineStorage
    private var length = 0
    private var first = true

    public init() {
        storage = LineStorage(capacity: 512)
        bytes.reserveCapacity(512)
    }

    /// Starts a new object, discarding the previous line.
    public mutating func begin() {
        length = 0
        reserve(1)[0] = UInt8(ascii: "{")
        length = 1
        first = true
    }

    /// Closes the object and ends the line.
    public mutating func end() {
        close()
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: UnsafeBufferPointer(start: storage.base, count: length))
    }

    /// Closes the object and hands the line, newline included, to `body` without copying it into ``bytes`` (which
    /// keeps the line before). Why: the record thread appends each line to its batch, and the copy into ``bytes``
    /// was a second copy of every line, 200,000 times a second in a loaded daemon.
    public mutating func end<R>(reading body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        close()
        return body(UnsafeBufferPointer(start: storage.base, count: length))
    }

    /// The object's closing brace and the newline, shared by both ways of ending a line.
    @inline(__always)
    private mutating func close() {
        let out = reserve(2)
        out[0] = UInt8(ascii: "}"); out[1] = UInt8(ascii: "\n")
        length += 2
    }

    /// The bytes of a ``JSONLine/Fields`` (`fields.bytes`, or a copy of them in memory that outlives many lines, so
    /// nothing is retained per line).
    @inline(__always)
    public mutating func append(fields b: UnsafeBufferPointer<UInt8>) {
        guard let source = b.baseAddress, b.count > 0 else { return }
        let out = reserve(b.count + 1)
        var n = 0
        if !first { out[0] = UInt8(ascii: ","); n = 1 }
        (out + n).update(from: source, count: b.count)
        length += n + b.count
        first = false
    }

    /// A run of fields encoded once, to be copied into lines with ``append(fields:)`` exactly as writing them again would
    /// write them (a separator before them unless they open an object). Why: some fields are the same on thousands of
    /// lines, like the call, channel and role that begin every `frame` record of a channel.
    public struct Fields: Sendable, Equatable {
        /// The fields, without separators around them.
        public let bytes: [UInt8]

        /// Encodes the fields `write` writes (into an object of their own, so without a leading separator).
        public init(_ write: (inout JSONLine) -> Void) {
            var line = JSONLine()
            line.begin()
            write(&line)
            bytes = Array(UnsafeBufferPointer(start: line.storage.base + 1, count: line.length - 1))
        }
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
        putByte(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { putByte(UInt8(ascii: ",")) }
            appendQuoted(v)
        }
        putByte(UInt8(ascii: "]"))
    }

    /// Opens a nested object under `key`; close it with ``endObject()``.
    public mutating func beginObject(_ key: StaticString) {
        self.key(key)
        putByte(UInt8(ascii: "{"))
        first = true
    }

    /// Closes the object ``beginObject(_:)`` opened.
    public mutating func endObject() {
        putByte(UInt8(ascii: "}"))
        first = false
    }

    /// Room for `count` more bytes at the end of the line, where the caller writes them (and then adds them to
    /// ``length``). Also where a copied `JSONLine` gets storage of its own, so copies stay independent values.
    @inline(__always)
    private mutating func reserve(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        if _slowPath(!isKnownUniquelyReferenced(&storage) || storage.capacity - length < count) {
            storage = storage.copy(length: length, capacity: max(2 * storage.capacity, length + count))
        }
        return storage.base + length
    }

    private mutating func putByte(_ b: UInt8) {
        reserve(1)[0] = b
        length += 1
    }

    /// Besides the key: separator, quotes and colon, then a 20-digit integer with sign, point and 9 decimals, `false`.
    private static let valueBytes = 40

    /// Writes the key of a field and what `value` puts after it.
    @inline(__always)
    private mutating func assemble(_ key: StaticString, _ value: (UnsafeMutablePointer<UInt8>, inout Int) -> Void) {
        let separator = !first
        first = false
        let out = reserve(key.utf8CodeUnitCount + JSONLine.valueBytes)
        var n = 0
        if separator { out[n] = UInt8(ascii: ","); n += 1 }
        out[n] = UInt8(ascii: "\""); n += 1
        key.withUTF8Buffer { k in
            JSONLine.copy(k.baseAddress!, k.count, to: out + n)
            n += k.count
        }
        out[n] = UInt8(ascii: "\""); out[n + 1] = UInt8(ascii: ":"); n += 2
        value(out, &n)
        length += n
    }

    /// Copies `count` bytes. Keys and most strings are 4 to 16 bytes: two overlapping word copies instead of a call
    /// to memmove, a dozen times a record.
    @inline(__always)
    private static func copy(_ source: UnsafePointer<UInt8>, _ count: Int, to target: UnsafeMutablePointer<UInt8>) {
        let s = UnsafeRawPointer(source), t = UnsafeMutableRawPointer(target)
        if count >= 8 && count <= 16 {
            t.storeBytes(of: s.loadUnaligned(as: UInt64.self), as: UInt64.self)
            (t + count - 8).storeBytes(of: (s + count - 8).loadUnaligned(as: UInt64.self), as: UInt64.self)
        } else if count >= 4 && count < 8 {
            t.storeBytes(of: s.loadUnaligned(as: UInt32.self), as: UInt32.self)
            (t + count - 4).storeBytes(of: (s + count - 4).loadUnaligned(as: UInt32.self), as: UInt32.self)
        } else if count < 4 {
            for i in 0..<count { target[i] = source[i] }
        } else {
            target.update(from: source, count: count)
        }
    }

    /// The key of a field whose value is appended after it (strings, arrays, objects).
    private mutating func key(_ key: StaticString) {
        assemble(key) { _, _ in }
    }

    private static func put(_ s: StaticString, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        s.withUTF8Buffer { b in
            JSONLine.copy(b.baseAddress!, b.count, to: out + n)
            n += b.count
        }
    }

    /// At most 20 bytes: a sign and 19 digits.
    private static func putInteger(_ value: Int, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        if value < 0 { out[n] = UInt8(ascii: "-"); n += 1 }
        putDigits(value.magnitude, out, &n)
    }

    private static func putDigits(_ value: UInt, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        let digits = digitCount(value)
        putDigitsBackward(value, out + n + digits)
        n += digits
    }

    /// Decimal digits of `value`, at least 1.
    @inline(__always)
    private static func digitCount(_ value: UInt) -> Int {
        var digits = 1
        var bound: UInt = 10
        while digits < 20 && value >= bound { digits += 1; bound &*= 10 }
        return digits
    }

    /// "00" to "99", so digits are written two per division (a literal: no lazy global to check on every use).
    private static let pairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// Writes all digits of `value` (at least one) ending just before `end`; returns where they start.
    @inline(__always) @discardableResult
    private static func putDigitsBackward(_ value: UInt, _ end: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var v = value
        var p = end
        while v >= 100 { putLastPair(&v, &p) }
        if v >= 10 {
            putLastPair(&v, &p)
        } else {
            p -= 1
            p[0] = UInt8(ascii: "0") + UInt8(v)
        }
        return p
    }

    /// Writes the last two digits of `v` just before `p`, moves `p` onto them and drops them from `v`.
    @inline(__always)
    private static func putLastPair(_ v: inout UInt, _ p: inout UnsafeMutablePointer<UInt8>) {
        let r = Int(v % 100)
        v /= 100
        p -= 2
        let out = p
        pairs.withUTF8Buffer { pairs in out[0] = pairs[2 * r]; out[1] = pairs[2 * r + 1] }
    }

    /// Rounds half away from zero at `decimals` places; a value that rounds to zero is written without a sign.
    private static func putFixed(_ value: Double, decimals: Int, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = roundedHalfAway(value.magnitude * scale)
        // Beyond 2^53 the fixed form would be meaningless; such values never occur in records, but if one did it
        // is still written as a JSON number (and one beyond Int's range in exponent form, never a trap).
        guard scaled < 9.0e15 else {
            if value.magnitude < 9.0e18 { putInteger(Int(value.rounded()), out, &n) } else { putExponent(value, out, &n) }
            return
        }
        let units = UInt(scaled)
        if value < 0 && units != 0 { out[n] = UInt8(ascii: "-"); n += 1 }
        guard decimals > 0 else { putDigits(units, out, &n); return }
        // The units' digits with the point `decimals` places from the right, and zeros in front up to one whole
        // digit: written backwards, so no division by the scale is needed.
        let width = max(digitCount(units), decimals + 1) + 1
        var v = units
        var p = out + n + width
        // Two decimals per division, as for the whole digits.
        var d = decimals
        while d >= 2 {
            putLastPair(&v, &p)
            d -= 2
        }
        if d == 1 {
            p -= 1
            p[0] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
        p -= 1
        p[0] = UInt8(ascii: ".")
        putDigitsBackward(v, p)
        n += width
    }

    /// `x.rounded()` for `x` ≥ 0, without the call into libm below 2^63 (six times a frame record). Exact: for a
    /// whole part `i` ≥ 1, `i` ≤ `x` < 2`i`, so `x - i` is exact (Sterbenz), and so is its comparison with one half.
    @inline(__always)
    private static func roundedHalfAway(_ x: Double) -> Double {
        guard x < 9.0e18 else { return x.rounded() }
        let whole = Int(x)
        return Double(x - Double(whole) >= 0.5 ? whole + 1 : whole)
    }

    /// Swift's shortest round-trip form (`1e+19`), at most 24 bytes; only for magnitudes beyond Int.
    private static func putExponent(_ value: Double, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        for b in "\(value)".utf8.prefix(24) { out[n] = b; n += 1 }
    }

    private mutating func appendQuoted(_ s: String) {
        // At worst every byte becomes a six-byte \u escape.
        var out = reserve(2 + 6 * s.utf8.count)
        out[0] = UInt8(ascii: "\"")
        out += 1
        // Call ids, roles and words almost never need escaping: copy them whole when they do not.
        let copied: Int? = s.utf8.withContiguousStorageIfAvailable { utf8 in
            for b in utf8 where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return -1 }
            if !utf8.isEmpty { JSONLine.copy(utf8.baseAddress!, utf8.count, to: out) }
            return utf8.count
        }
        var n: Int
        if let copied, copied >= 0 {
            n = copied
        } else {
            n = 0
            for b in s.utf8 { JSONLine.putEscaped(b, out, &n) }
        }
        out[n] = UInt8(ascii: "\"")
        length += n + 2
    }

    private static func putEscaped(_ b: UInt8, _ out: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        let escaped: UInt8
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): escaped = b
        case 0x0A: escaped = UInt8(ascii: "n")
        case 0x0D: escaped = UInt8(ascii: "r")
        case 0x09: escaped = UInt8(ascii: "t")
        case 0..<0x20:
            let hex: StaticString = "0123456789abcdef"
            hex.withUTF8Buffer { h in
                out[n] = UInt8(ascii: "\\"); out[n + 1] = UInt8(ascii: "u"); out[n + 2] = UInt8(ascii: "0")
                out[n + 3] = UInt8(ascii: "0"); out[n + 4] = h[Int(b >> 4)]; out[n + 5] = h[Int(b & 0xF)]
            }
            n += 6
            return
        default:
            out[n] = b; n += 1
            return
        }
        out[n] = UInt8(ascii: "\\"); out[n + 1] = escaped
        n += 2
    }
}

/// The raw memory a ``JSONLine`` writes into. Its pointer and size never change: growing makes a new one.
///
/// `@unchecked Sendable`: the bytes are written only through a `JSONLine` that holds the only reference (it checks
/// before every write and copies otherwise), so no two values, and so no two threads, ever share writable bytes.
private final class LineStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    /// A new storage of `capacity` bytes holding the first `length` bytes of this one.
    func copy(length: Int, capacity: Int) -> LineStorage {
        let copy = LineStorage(capacity: capacity)
        copy.base.update(from: base, count: length)
        return copy
    }

    deinit { base.deallocate() }
}
