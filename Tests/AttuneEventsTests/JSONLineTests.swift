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
