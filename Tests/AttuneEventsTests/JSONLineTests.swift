import AttuneEvents
import Foundation
import Testing

/// JSONLine writes every record `attune analyze` and the daemon publish, so its numbers and strings must read back
/// exactly as the record schema promises, whatever path (the stack scratch, the whole-string copy, the escapes)
/// wrote them.
@Suite("JSON line encoding") struct JSONLineTests {
    func line(_ write: (inout JSONLine) -> Void) -> String {
        var line = JSONLine()
        line.begin()
        write(&line)
        line.end()
        return String(decoding: line.bytes, as: UTF8.self)
    }

    @Test("fixed decimals: half away from zero, no sign on a rounded zero, null for nil and non-finite values")
    func fixedDecimals() {
        #expect(line { $0.field("t", 1.5, decimals: 3) } == #"{"t":1.500}"# + "\n")
        #expect(line { $0.field("t", 0.0005, decimals: 3) } == #"{"t":0.001}"# + "\n")
        #expect(line { $0.field("t", -0.0004, decimals: 3) } == #"{"t":0.000}"# + "\n")
        #expect(line { $0.field("t", -12.345678, decimals: 2) } == #"{"t":-12.35}"# + "\n")
        #expect(line { $0.field("t", 7.96, decimals: 0) } == #"{"t":8}"# + "\n")
        #expect(line { $0.field("t", 0.05, decimals: 9) } == #"{"t":0.050000000}"# + "\n")
        #expect(line { $0.field("t", 1.25, decimals: 1) } == #"{"t":1.3}"# + "\n")
        #expect(line { $0.field("t", -0.06, decimals: 1) } == #"{"t":-0.1}"# + "\n")
        #expect(line { $0.field("t", 12.34567, decimals: 4) } == #"{"t":12.3457}"# + "\n")
        #expect(line { $0.field("t", 0.00012, decimals: 5) } == #"{"t":0.00012}"# + "\n")
        #expect(line { $0.field("t", 98765.4321, decimals: 2) } == #"{"t":98765.43}"# + "\n")
        #expect(line { $0.field("a", nil, decimals: 2); $0.field("b", .nan, decimals: 2); $0.field("c", -.infinity, decimals: 2) }
                == #"{"a":null,"b":null,"c":null}"# + "\n")
    }

    @Test("numbers beyond the fixed form stay JSON numbers")
    func hugeNumbers() throws {
        let text = line { $0.field("a", 1.0e17, decimals: 2); $0.field("b", -3.0e20, decimals: 2); $0.field("c", Int.min) }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((object["a"] as? NSNumber)?.doubleValue == 1.0e17)
        #expect((object["b"] as? NSNumber)?.doubleValue == -3.0e20)
        #expect(text.contains(#""c":-9223372036854775808"#))
    }

    @Test("random values read back as the rounded value, with exactly the decimals asked for")
    func randomNumbersRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let decimals = Int.random(in: 0...6, using: &rng)
            let magnitude = [1.0, 100.0, 1.0e6, 1.0e11][Int.random(in: 0...3, using: &rng)]
            let value = Double.random(in: -magnitude...magnitude, using: &rng)
            let int = Int.random(in: Int.min...Int.max, using: &rng)
            let text = line { $0.field("v", value, decimals: decimals); $0.field("i", int); $0.field("b", int % 2 == 0) }
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
            var scale = 1.0
            for _ in 0..<decimals { scale *= 10 }
            // Past 2^53 units the fixed form is meaningless and the value is written as a whole number.
            let fixed = (value.magnitude * scale).rounded() < 9.0e15
            let expected = fixed ? (value.magnitude * scale).rounded() / scale * (value < 0 ? -1 : 1) : value.rounded()
            let read = try #require((object["v"] as? NSNumber)?.doubleValue, "\(text)")
            #expect(abs(read - expected) <= expected.magnitude * 1e-15, "\(value) at \(decimals): \(text)")
            let written = try #require(text.split(separator: ",").first?.dropFirst(5))
            #expect(written.split(separator: ".").dropFirst().first?.count ?? 0 == (fixed ? decimals : 0), "\(text)")
            #expect(text.contains(#""i":\#(int),"#), "\(text)")
            #expect(object["b"] as? Bool == (int % 2 == 0))
        }
    }

    /// The formatter as it was before it wrote digits backwards without dividing by the scale: records must keep
    /// their exact bytes, so the new one is held to the old one's output digit for digit.
    static func referenceFixed(_ value: Double?, decimals: Int) -> String {
        guard let value, value.isFinite else { return "null" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded()
        guard scaled < 9.0e15 else { return value.magnitude < 9.0e18 ? "\(Int(value.rounded()))" : "\(value)" }
        let units = UInt(scaled)
        let p = UInt(scale)
        var text = value < 0 && units != 0 ? "-" : ""
        text += "\(units / p)"
        guard decimals > 0 else { return text }
        let frac = "\(units % p)"
        return text + "." + String(repeating: "0", count: decimals - frac.count) + frac
    }

    @Test("fixed decimals: the same digits as the reference formatter on edge and random values")
    func fixedMatchesReference() {
        var edges: [Double] = [0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.0005, 0.0015, 0.0025, -0.0005, 0.9995, 9.9995, 99.995,
                               0.125, 0.375, 1e-9, 5e-10, -5e-10, 1, 9, 10, 99, 100, 999.9995, 123_456.789_5,
                               4_503_599_627_370_495.5, 8.99e15, 9.0e15, 9.1e15, 1e17, -3e20, 9.0e18, 8.99e18, 1e300,
                               .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                               .leastNormalMagnitude, .nan, -.nan, .infinity, -.infinity, .ulpOfOne]
        // Exact ties and the values either side of them at every scale.
        for d in 0...9 {
            var scale = 1.0
            for _ in 0..<d { scale *= 10 }
            for k in [0.5, 1.5, 2.5, 12.5, 1234.5, 99_999.5] {
                let tie = k / scale
                edges += [tie, -tie, tie.nextUp, tie.nextDown, -tie.nextUp]
            }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let magnitude = [1e-3, 1.0, 100.0, 1.0e6, 1.0e11, 1.0e16, 1.0e19][Int.random(in: 0...6, using: &rng)]
            edges.append(Double.random(in: -magnitude...magnitude, using: &rng))
            // Arbitrary bit patterns reach subnormals, huge values and NaNs with payloads.
            edges.append(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng)))
        }
        for value in edges {
            for decimals in 0...9 {
                let text = line { $0.field("v", value, decimals: decimals) }
                let expected = "{\"v\":" + JSONLineTests.referenceFixed(value, decimals: decimals) + "}\n"
                #expect(text == expected, "\(value) at \(decimals) decimals")
            }
        }
        #expect(line { $0.field("v", nil, decimals: 3) } == #"{"v":null}"# + "\n")
    }

    @Test("a copied line is a value: writing to the copy leaves the original's line alone")
    func copiesAreIndependent() {
        var a = JSONLine()
        a.begin()
        a.field("x", 1)
        var b = a
        b.field("y", 2)
        b.end()
        a.field("z", 3)
        a.end()
        #expect(String(decoding: a.bytes, as: UTF8.self) == #"{"x":1,"z":3}"# + "\n")
        #expect(String(decoding: b.bytes, as: UTF8.self) == #"{"x":1,"y":2}"# + "\n")
    }

    @Test("strings and keys of every length up to 40 bytes are copied whole")
    func everyLength() {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH")
        for n in 0...40 {
            let s = String(alphabet[0..<n])
            #expect(line { $0.field("k", s) } == "{\"k\":\"\(s)\"}\n", "length \(n)")
            #expect(line { $0.field("w", [s, "é" + s]) } == "{\"w\":[\"\(s)\",\"é\(s)\"]}\n", "length \(n)")
        }
        // Keys of 1 to 16 bytes, each branch of the short copy.
        #expect(line { $0.field("a", 1); $0.field("abc", 2); $0.field("abcd", 3); $0.field("abcdefg", 4) }
                == #"{"a":1,"abc":2,"abcd":3,"abcdefg":4}"# + "\n")
        #expect(line { $0.field("abcdefgh", true); $0.field("abcdefghijklmno", false); $0.field("abcdefghijklmnop", 0.5, decimals: 1) }
                == #"{"abcdefgh":true,"abcdefghijklmno":false,"abcdefghijklmnop":0.5}"# + "\n")
    }

    @Test("a line longer than the first buffer grows it and keeps every byte")
    func longLines() {
        let words = (0..<300).map { "word\($0)\"q" }
        let text = line { $0.field("t", 1.25, decimals: 3); $0.field("w", words); $0.field("n", -7) }
        let quoted = (0..<300).map { "\"word\($0)" + #"\"q""# }
        let expected = #"{"t":1.250,"w":["# + quoted.joined(separator: ",") + #"],"n":-7}"# + "\n"
        #expect(text == expected)
    }

    @Test("strings: plain ones copied whole, quotes, backslashes and control bytes escaped, UTF-8 kept")
    func strings() throws {
        #expect(line { $0.field("call", "c-17") } == #"{"call":"c-17"}"# + "\n")
        #expect(line { $0.field("m", "a\"b\\c\nd\re\tf\u{1}g\u{1f}") } == #"{"m":"a\"b\\c\nd\re\tf\u0001g\u001f"}"# + "\n")
        #expect(line { $0.field("w", ["grüß", "", "日本"]) } == #"{"w":["grüß","","日本"]}"# + "\n")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let scalars = (0..<Int.random(in: 0...12, using: &rng)).map { _ in
                Unicode.Scalar([0x01, 0x0A, 0x22, 0x5C, 0x41, 0x7F, 0xE9, 0x65E5][Int.random(in: 0...7, using: &rng)])!
            }
            let s = String(String.UnicodeScalarView(scalars))
            let text = line { $0.field("s", s) }
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
            #expect(object["s"] as? String == s, "\(text)")
        }
    }

    @Test("keys, separators and nested objects")
    func structure() {
        let text = line {
            $0.field("type", "x")
            $0.beginObject("o")
            $0.field("n", 3)
            $0.field("f", false)
            $0.endObject()
            $0.field("k", true)
        }
        #expect(text == #"{"type":"x","o":{"n":3,"f":false},"k":true}"# + "\n")
        let long: StaticString = "a_key_longer_than_the_scratch_holds_which_no_record_has_but_which_must_still_work"
        #expect(line { $0.field("a", 1); $0.field(long, 2.5, decimals: 1) } == "{\"a\":1,\"\(long)\":2.5}\n")
    }
}
